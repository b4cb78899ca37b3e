#include "gcra.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace sluice::gcra {
namespace {

constexpr int64_t kSec = 1000000000;

struct Grant {
  int64_t t;
  uint32_t n;
};

// Exact check of "grants in [a, b] <= burst + rate*(b-a)/period" over all
// pairs of grants (the tightest intervals start and end at grants).
int64_t Violations(const std::vector<Grant>& g, uint64_t rate, int64_t period, uint64_t burst) {
  int64_t bad = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    unsigned __int128 sum = 0;
    for (size_t j = i; j < g.size(); ++j) {
      sum += g[j].n;
      const int64_t span = g[j].t - g[i].t;
      if (span < 0) continue;  // only forward intervals
      if (sum * period > static_cast<unsigned __int128>(burst) * period +
                             static_cast<unsigned __int128>(rate) * span) {
        ++bad;
      }
    }
  }
  return bad;
}

TEST(GcraTest, BurstThenSteadyRate) {
  std::atomic<int64_t> tat{kInitialTat};
  const Params p = MakeParams(10, kSec, 3);  // 10/s, T = 100ms
  EXPECT_EQ(p.cost1, 100000000);
  const int64_t t0 = 50 * kSec;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(TryAcquire(tat, p, 1, t0).granted);
  Decision d = TryAcquire(tat, p, 1, t0);
  EXPECT_FALSE(d.granted);
  EXPECT_EQ(d.retry_after_ns, 100000000);
  EXPECT_FALSE(TryAcquire(tat, p, 1, t0 + 99999999).granted);
  EXPECT_TRUE(TryAcquire(tat, p, 1, t0 + 100000000).granted);
  EXPECT_FALSE(TryAcquire(tat, p, 1, t0 + 100000000).granted);
}

TEST(GcraTest, PermitsAboveBurstNeverGranted) {
  std::atomic<int64_t> tat{kInitialTat};
  const Params p = MakeParams(100, kSec, 5);
  Decision d = TryAcquire(tat, p, 6, kSec);
  EXPECT_FALSE(d.granted);
  EXPECT_EQ(d.retry_after_ns, -1);
  EXPECT_TRUE(TryAcquire(tat, p, 5, kSec).granted);
  EXPECT_FALSE(TryAcquire(tat, p, 1, kSec).granted);
}

TEST(GcraTest, DenialChangesNothing) {
  std::atomic<int64_t> tat{kInitialTat};
  const Params p = MakeParams(1, kSec, 1);
  EXPECT_TRUE(TryAcquire(tat, p, 1, kSec).granted);
  const int64_t before = tat.load();
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(TryAcquire(tat, p, 1, kSec + i).granted);
  EXPECT_EQ(tat.load(), before);
}

TEST(GcraTest, ReverseTimeNeverGrantsMore) {
  std::atomic<int64_t> tat{kInitialTat};
  const Params p = MakeParams(10, kSec, 2);
  EXPECT_TRUE(TryAcquire(tat, p, 2, 100 * kSec).granted);
  // The clock jumps back 10 s: still nothing beyond the bound.
  EXPECT_FALSE(TryAcquire(tat, p, 1, 90 * kSec).granted);
  EXPECT_FALSE(TryAcquire(tat, p, 1, 100 * kSec).granted);
  EXPECT_TRUE(TryAcquire(tat, p, 1, 100 * kSec + 100000000).granted);
}

TEST(GcraTest, FractionalCostRoundsUp) {
  const Params p = MakeParams(3, kSec, 1);  // 333333333.3 ns
  EXPECT_EQ(p.cost1, 333333334);
  const Params fast = MakeParams(3000000000ULL, kSec, 1);  // below 1 ns
  EXPECT_EQ(fast.cost1, 1);
}

struct SweepCase {
  uint64_t rate;
  int64_t period;
  uint64_t burst;
};

class GcraSweep : public ::testing::TestWithParam<SweepCase> {};

TEST_P(GcraSweep, BoundHoldsAndIsUsed) {
  const SweepCase c = GetParam();
  const Params p = MakeParams(c.rate, c.period, c.burst);
  std::mt19937_64 rng(c.rate * 31 + c.burst);
  std::atomic<int64_t> tat{kInitialTat};
  std::vector<Grant> grants;
  int64_t now = 1000 * kSec;
  const int64_t start = now;
  uint64_t granted = 0;
  // Saturating demand: try far more often than the rate allows, with
  // n-permit requests and the occasional step backwards in time.
  const int64_t step = std::max<int64_t>(1, p.cost1 / 100);
  for (int i = 0; i < 20000; ++i) {
    const uint32_t n = 1 + rng() % std::min<uint64_t>(c.burst, 3);
    const int64_t at = (rng() % 20 == 0) ? now - static_cast<int64_t>(rng() % (4 * step)) : now;
    if (TryAcquire(tat, p, n, at).granted) {
      grants.push_back({at, n});
      granted += n;
    }
    now += static_cast<int64_t>(rng() % (2 * step)) + 1;
  }
  std::sort(grants.begin(), grants.end(), [](const Grant& a, const Grant& b) { return a.t < b.t; });
  EXPECT_EQ(Violations(grants, c.rate, c.period, c.burst), 0);
  // Utilisation: the bound over the run allows burst + span/T permits.
  const double allowed = double(c.burst) + double(now - start) / double(p.cost1);
  EXPECT_GE(double(granted), 0.97 * allowed - 3) << "granted " << granted << " of " << allowed;
}

INSTANTIATE_TEST_SUITE_P(Params, GcraSweep,
                         ::testing::Values(SweepCase{1, kSec, 1}, SweepCase{3, kSec, 2},
                                           SweepCase{100, kSec, 10}, SweepCase{7, 1000, 1},
                                           SweepCase{1000000, kSec, 50}, SweepCase{5, 800000000, 5},
                                           SweepCase{1, 3600 * kSec, 3}));

TEST(GcraTest, ReservationsQueueInArrivalOrder) {
  std::atomic<int64_t> tat{kInitialTat};
  const Params p = MakeParams(10, kSec, 1);  // T = 100ms
  const int64_t t0 = 10 * kSec;
  Reservation a = Reserve(tat, p, 1, t0, -1);
  Reservation b = Reserve(tat, p, 1, t0, -1);
  Reservation c = Reserve(tat, p, 1, t0, -1);
  ASSERT_TRUE(a.ok && b.ok && c.ok);
  EXPECT_EQ(a.grant_ns, t0);
  EXPECT_EQ(b.grant_ns, t0 + 100000000);
  EXPECT_EQ(c.grant_ns, t0 + 200000000);
  // A turn later than the allowed wait is not taken, and nothing changes.
  const int64_t before = tat.load();
  Reservation d = Reserve(tat, p, 1, t0, 250000000);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(d.retry_after_ns, 300000000);
  EXPECT_EQ(tat.load(), before);
  // The last reservation can be refunded; an earlier one cannot.
  EXPECT_FALSE(Refund(tat, b));
  EXPECT_TRUE(Refund(tat, c));
  Reservation e = Reserve(tat, p, 1, t0, -1);
  EXPECT_EQ(e.grant_ns, t0 + 200000000);
}

TEST(GcraTest, DecisionUnderReplacedParamsIsStale) {
  std::atomic<int64_t> tat{kInitialTat};
  std::atomic<uint64_t> params_off{1};
  const Params old_p = MakeParams(1, kSec, 100);
  // The parameters the caller loaded (offset 1) were replaced (offset 2).
  params_off.store(2);
  ConvertState(tat, old_p, old_p, 10 * kSec);
  bool stale = false;
  Decision d = TryAcquire(tat, old_p, 100, 10 * kSec, ParamsGuard{&params_off, 1}, &stale);
  EXPECT_TRUE(stale);
  EXPECT_FALSE(d.granted);
  Reservation r = Reserve(tat, old_p, 1, 10 * kSec, -1, ParamsGuard{&params_off, 1});
  EXPECT_TRUE(r.stale);
  EXPECT_FALSE(r.ok);
}

TEST(GcraTest, UsedReportsSpentBurst) {
  std::atomic<int64_t> tat{kInitialTat};
  const Params p = MakeParams(10, kSec, 4);
  EXPECT_EQ(Used(tat.load(), p, kSec), 0);
  TryAcquire(tat, p, 3, kSec);
  EXPECT_DOUBLE_EQ(Used(tat.load(), p, kSec), 3);
  EXPECT_DOUBLE_EQ(Used(tat.load(), p, kSec + 100000000), 2);
}

// Found by segment_fuzz: a TAT far ahead of an injected time (a damaged
// state word, or a time far in the past) overflowed tat - now (UB).
TEST(GcraTest, UsedOfATatFarAheadIsTheBurstWithoutOverflow) {
  const Params p = MakeParams(10, kSec, 3);
  EXPECT_DOUBLE_EQ(Used(INT64_MAX - 1, p, INT64_MIN / 4), 3);
  EXPECT_DOUBLE_EQ(Used(INT64_MAX, p, INT64_MIN), 3);
  EXPECT_EQ(Used(INT64_MIN, p, INT64_MAX), 0);
}

}  // namespace
}  // namespace sluice::gcra
