#include "latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <iterator>

namespace sluice {

// Values below 2^kSubBits get one bucket each; above, bucket = (exponent
// group, top kSubBits bits below the leading one).
int LatencyHistogram::BucketOf(uint64_t v) {
  constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  if (v < kSub) return static_cast<int>(v);
  const int msb = 63 - std::countl_zero(v);
  const int shift = msb - kSubBits;
  const uint64_t sub = (v >> shift) & (kSub - 1);
  return static_cast<int>(((shift + 1) << kSubBits) + sub);
}

uint64_t LatencyHistogram::BucketLow(int b) {
  constexpr int kSub = 1 << kSubBits;
  if (b < kSub) return static_cast<uint64_t>(b);
  const int shift = (b >> kSubBits) - 1;
  const uint64_t sub = static_cast<uint64_t>(b & (kSub - 1));
  return (uint64_t{kSub} + sub) << shift;
}

void LatencyHistogram::Clear() {
  std::fill(std::begin(counts), std::end(counts), 0);
  total = 0;
  max_ns = 0;
}

void LatencyHistogram::Add(int64_t ns) {
  if (ns < 0) ns = 0;
  ++counts[BucketOf(static_cast<uint64_t>(ns))];
  ++total;
  max_ns = std::max(max_ns, ns);
}

void LatencyHistogram::Merge(const LatencyHistogram& o) {
  for (int i = 0; i < kBuckets; ++i) counts[i] += o.counts[i];
  total += o.total;
  max_ns = std::max(max_ns, o.max_ns);
}

int64_t LatencyHistogram::Quantile(double q) const {
  if (total == 0) return 0;
  if (q >= 1) return max_ns;
  const uint64_t rank = static_cast<uint64_t>(std::ceil(std::max(q, 0.0) * double(total)));
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += counts[b];
    if (seen >= rank && counts[b] > 0) {
      const uint64_t lo = BucketLow(b);
      const uint64_t hi = b + 1 < kBuckets ? BucketLow(b + 1) : lo;
      return std::min<int64_t>(static_cast<int64_t>(lo + (hi - lo) / 2), max_ns);
    }
  }
  return max_ns;
}

}  // namespace sluice
