#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "base/clock.h"

namespace warren {

// A Clock that only moves when told. Thread-safe: both readings come from one
// atomic millisecond counter, so wall and monotonic time advance together.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_unix_ms = 1'700'000'000'000) : now_ms_(start_unix_ms) {}

  int64_t NowUnixMillis() override { return now_ms_.load(); }
  std::chrono::steady_clock::time_point Monotonic() override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms_.load()));
  }

  void Advance(std::chrono::milliseconds d) { now_ms_ += d.count(); }
  void SetUnixMillis(int64_t ms) { now_ms_ = ms; }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace warren
