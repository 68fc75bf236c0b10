#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace warren::metrics {

// Upper bounds (seconds) for RPC calls: most answer in a millisecond, a VM
// start under TCG takes tens of seconds, an attached session its whole life.
inline constexpr double kRpcSecondsBounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  10,    60};
// Upper bounds (seconds) for ops: VM creates and image builds take seconds to minutes.
inline constexpr double kOpSecondsBounds[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};

// A histogram's values at one moment: `counts[i]` observations fell in
// (bounds[i-1], bounds[i]], the last one above every bound (+Inf). Not cumulative.
struct HistogramData {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // bounds.size() + 1
  double sum = 0;

  uint64_t count() const;
  // Adds `other`'s observations (same bounds; CHECKed).
  void Merge(const HistogramData& other);
};

// Fixed buckets kept in relaxed atomics: Observe never blocks, so it can sit
// on a hot path (every RPC call) with no lock. A Snapshot taken while others
// observe may miss their latest observation; its count always equals the sum
// of its buckets, as the exposition format requires.
//
// Thread-safety: thread-safe.
class Histogram {
 public:
  // `bounds` strictly increasing (CHECKed).
  explicit Histogram(std::span<const double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);
  HistogramData Snapshot() const;

 private:
  const std::vector<double> bounds_;
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

}  // namespace warren::metrics
