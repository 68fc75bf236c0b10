#pragma once

#include <chrono>
#include <cstdint>

namespace warren {

// Time source seam. Real code uses SystemClock; tests inject a fake.
// Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in milliseconds since the Unix epoch (for records users read).
  virtual int64_t NowUnixMillis() = 0;
  // Monotonic time for deadlines and durations.
  virtual std::chrono::steady_clock::time_point Monotonic() = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowUnixMillis() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::chrono::steady_clock::time_point Monotonic() override {
    return std::chrono::steady_clock::now();
  }
};

}  // namespace warren
