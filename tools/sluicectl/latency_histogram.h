// LatencyHistogram: fixed-size log-linear histogram of durations (ns), 16
// sub-buckets per power of two (relative error <= 1/16). Plain array of
// counters, so it can live in shared memory and be merged (sluicectl bench).
// Not thread-safe; one per writer.
#ifndef SLUICECTL_LATENCY_HISTOGRAM_H_
#define SLUICECTL_LATENCY_HISTOGRAM_H_

#include <cstdint>
#include <type_traits>

namespace sluice {

struct LatencyHistogram {
  static constexpr int kSubBits = 4;
  static constexpr int kBuckets = (64 - kSubBits + 1) << kSubBits;

  uint64_t counts[kBuckets];
  uint64_t total;
  int64_t max_ns;

  void Clear();
  void Add(int64_t ns);  // negative values count as 0
  void Merge(const LatencyHistogram& other);
  // The value at quantile q in [0, 1] (bucket midpoint; max_ns for q = 1).
  int64_t Quantile(double q) const;

  static int BucketOf(uint64_t v);
  static uint64_t BucketLow(int b);
};
static_assert(std::is_trivially_copyable_v<LatencyHistogram>);

}  // namespace sluice

#endif  // SLUICECTL_LATENCY_HISTOGRAM_H_
