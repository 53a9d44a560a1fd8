#pragma once

#include <atomic>
#include <chrono>

namespace fleetgate {

using TimePoint = std::chrono::system_clock::time_point;

// Injected wherever time matters (expiry, SigV4 skew, timestamps) so tests need not sleep.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint(TimePoint::duration(now_.load())); }
  void advance(std::chrono::system_clock::duration by) { now_ += by.count(); }
  void set(TimePoint t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<TimePoint::rep> now_;
};

// Epoch seconds with millisecond fraction, the restJson timestamp form.
double toEpochSeconds(TimePoint t);
std::int64_t toEpochMillis(TimePoint t);
TimePoint fromEpochMillis(std::int64_t ms);

}  // namespace fleetgate
