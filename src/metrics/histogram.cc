#include "metrics/histogram.h"

#include <algorithm>

#include "base/check.h"

namespace warren::metrics {

uint64_t HistogramData::count() const {
  uint64_t n = 0;
  for (uint64_t c : counts) n += c;
  return n;
}

void HistogramData::Merge(const HistogramData& other) {
  if (bounds.empty() && counts.empty()) {
    *this = other;
    return;
  }
  CHECK(bounds == other.bounds);
  for (size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  sum += other.sum;
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  for (size_t i = 1; i < bounds_.size(); ++i) CHECK(bounds_[i - 1] < bounds_[i]);
}

void Histogram::Observe(double value) {
  // The first bound >= value: buckets are (previous, bound], as Prometheus' `le`.
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

HistogramData Histogram::Snapshot() const {
  HistogramData out{bounds_, std::vector<uint64_t>(bounds_.size() + 1), 0};
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    out.counts[i] = counts_[i].load(std::memory_order_relaxed);
  }
  out.sum = sum_.load(std::memory_order_relaxed);
  return out;
}

}  // namespace warren::metrics
