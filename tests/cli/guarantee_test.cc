#include "sluice/admin/guarantee.h"

#include <gtest/gtest.h>

#include <vector>

#include "latency_histogram.h"
#include "sluice/duration.h"
#include "sluice/limiter.h"
#include "support/test_namespace.h"

namespace sluice {
namespace {

constexpr int64_t kMs = kNanosPerMilli;

TEST(Guarantee, SlidingAcceptsExactlyLimitPerWindow) {
  const LimiterSpec s = LimiterSpec::Sliding(3, 100 * kMs);
  // 3 grants, then the 4th exactly one window after the 1st: allowed.
  const std::vector<int64_t> t = {0, 10 * kMs, 20 * kMs, 100 * kMs, 110 * kMs, 120 * kMs};
  const GuaranteeReport r = CheckGuarantee(s, t);
  EXPECT_TRUE(r.ok()) << r.Describe(s);
  EXPECT_EQ(r.grants, 6u);
}

TEST(Guarantee, SlidingReportsViolations) {
  const LimiterSpec s = LimiterSpec::Sliding(3, 100 * kMs);
  const std::vector<int64_t> t = {0, 10 * kMs, 20 * kMs, 99 * kMs, 150 * kMs};
  const GuaranteeReport r = CheckGuarantee(s, t);
  EXPECT_EQ(r.violations, 1u);
  ASSERT_EQ(r.examples.size(), 1u);
  EXPECT_EQ(r.examples[0].start_ns, 0);
  EXPECT_EQ(r.examples[0].end_ns, 99 * kMs);
  EXPECT_EQ(r.examples[0].grants, 4u);
  EXPECT_DOUBLE_EQ(r.max_excess, 1.0);
  EXPECT_NE(r.Describe(s).find("1 violation of sliding limit=3"), std::string::npos)
      << r.Describe(s);
}

TEST(Guarantee, GcraBurstThenRate) {
  const LimiterSpec s = LimiterSpec::Gcra(10, kNanosPerSecond, 5);  // one per 100ms, burst 5
  std::vector<int64_t> t = {0, 0, 0, 0, 0};
  for (int i = 1; i <= 20; ++i) t.push_back(i * 100 * kMs);
  EXPECT_TRUE(CheckGuarantee(s, t).ok()) << CheckGuarantee(s, t).Describe(s);
  // A 6th grant at time 0 exceeds the burst.
  std::vector<int64_t> over = t;
  over.insert(over.begin(), 0);
  const GuaranteeReport r = CheckGuarantee(s, over);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.examples[0].grants, 6u);
  // Two grants 50ms apart after the burst is spent also violate.
  std::vector<int64_t> fast = {0, 0, 0, 0, 0, 50 * kMs};
  EXPECT_EQ(CheckGuarantee(s, fast).violations, 1u);
}

TEST(Guarantee, WindowIsPerAlignedWindow) {
  const LimiterSpec s = LimiterSpec::Window(2, 100 * kMs);
  // 2 at the end of one window, 2 at the start of the next: allowed (the
  // documented 2x across a boundary).
  const std::vector<int64_t> ok = {1000 * kMs + 98 * kMs, 1000 * kMs + 99 * kMs, 1100 * kMs,
                                   1101 * kMs};
  EXPECT_TRUE(CheckGuarantee(s, ok).ok());
  const std::vector<int64_t> bad = {1100 * kMs, 1150 * kMs, 1199 * kMs};
  EXPECT_EQ(CheckGuarantee(s, bad).violations, 1u);
}

TEST(Guarantee, LeaseIsSlidingOverTtl) {
  const LimiterSpec s = LimiterSpec::Lease(2, 250 * kMs, false);
  EXPECT_TRUE(CheckGuarantee(s, std::vector<int64_t>{0, 1, 250 * kMs, 250 * kMs + 1}).ok());
  EXPECT_EQ(CheckGuarantee(s, std::vector<int64_t>{0, 1, 249 * kMs}).violations, 1u);
}

TEST(Guarantee, EmptyRunIsFine) {
  EXPECT_TRUE(CheckGuarantee(LimiterSpec::Sliding(1, kMs), std::vector<int64_t>{}).ok());
}

TEST(Guarantee, MaxGrantsIn) {
  EXPECT_DOUBLE_EQ(MaxGrantsIn(LimiterSpec::Gcra(100, kNanosPerSecond, 10), 2 * kNanosPerSecond),
                   210.0);
  EXPECT_DOUBLE_EQ(MaxGrantsIn(LimiterSpec::Sliding(5, 800 * kMs), 1600 * kMs), 10.0);
  EXPECT_DOUBLE_EQ(MaxGrantsIn(LimiterSpec::Sliding(5, 800 * kMs), 1601 * kMs), 15.0);
}

// The real limiters, driven with injected time, keep the checker happy.
TEST(Guarantee, RealLimitersPassTheChecker) {
  testing::ScopedNamespace ns("guar");
  Segment seg = ns.Open();
  for (const LimiterSpec& s :
       {LimiterSpec::Gcra(7, 100 * kMs, 3), LimiterSpec::Sliding(4, 50 * kMs),
        LimiterSpec::Window(4, 50 * kMs), LimiterSpec::Lease(3, 30 * kMs, false)}) {
    Limiter l = *seg.Define(std::string("l-") + AlgorithmName(s.algorithm), s);
    std::vector<int64_t> grants;
    // From now on: a decision is dated no earlier than its limiter's
    // definition (a clock from before it is stale).
    const int64_t t0 = MonotonicNowNs();
    for (int64_t t = t0; t < t0 + 2000 * kMs; t += 997 * 1000) {
      Decision d = l.TryAcquireAt(1, t);
      if (d.granted) grants.push_back(t);
    }
    const GuaranteeReport r = CheckGuarantee(s, grants);
    EXPECT_TRUE(r.ok()) << r.Describe(s);
    EXPECT_GT(r.grants, 0.8 * MaxGrantsIn(s, 2000 * kMs) - 10) << s.Describe();
  }
}

TEST(LatencyHistogram, Quantiles) {
  LatencyHistogram h;
  h.Clear();
  for (int i = 1; i <= 1000; ++i) h.Add(i * 100);  // 100ns .. 100us
  EXPECT_EQ(h.total, 1000u);
  EXPECT_EQ(h.max_ns, 100000);
  EXPECT_NEAR(double(h.Quantile(0.5)), 50000.0, 50000.0 / 16);
  EXPECT_NEAR(double(h.Quantile(0.99)), 99000.0, 99000.0 / 16);
  EXPECT_EQ(h.Quantile(1.0), 100000);
  LatencyHistogram g;
  g.Clear();
  g.Add(5);
  h.Merge(g);
  EXPECT_EQ(h.total, 1001u);
  for (uint64_t v : {0ull, 1ull, 15ull, 16ull, 17ull, 1000ull, 123456789ull, ~0ull}) {
    const int b = LatencyHistogram::BucketOf(v);
    EXPECT_LE(LatencyHistogram::BucketLow(b), v);
    if (b + 1 < LatencyHistogram::kBuckets) {
      EXPECT_GT(LatencyHistogram::BucketLow(b + 1), v);
    }
  }
}

}  // namespace
}  // namespace sluice
