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

using SteadyTime = std::chrono::steady_clock::time_point;

// Time that only moves forward, for durations (keep-alive, timeouts, session expiry); injected
// like Clock so tests move it instead of sleeping.
class MonotonicClock {
 public:
  virtual ~MonotonicClock() = default;
  virtual SteadyTime now() const = 0;
};

class SteadyClock final : public MonotonicClock {
 public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
};

class FakeMonotonicClock final : public MonotonicClock {
 public:
  explicit FakeMonotonicClock(SteadyTime start = SteadyTime{} + std::chrono::hours(1))
      : now_(start.time_since_epoch().count()) {}
  SteadyTime now() const override { return SteadyTime(SteadyTime::duration(now_.load())); }
  void advance(std::chrono::steady_clock::duration by) { now_ += by.count(); }

 private:
  std::atomic<SteadyTime::rep> now_;
};

// Epoch seconds with millisecond fraction, the restJson timestamp form.
double toEpochSeconds(TimePoint t);
std::int64_t toEpochMillis(TimePoint t);
TimePoint fromEpochMillis(std::int64_t ms);

}  // namespace fleetgate
