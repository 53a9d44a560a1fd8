#include "common/clock.h"

namespace fleetgate {

double toEpochSeconds(TimePoint t) { return static_cast<double>(toEpochMillis(t)) / 1000.0; }

std::int64_t toEpochMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

TimePoint fromEpochMillis(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

}  // namespace fleetgate
