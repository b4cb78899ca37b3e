#include "sliding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "layout.h"

namespace sluice::sliding {
namespace {

constexpr int64_t kMs = 1000000;

// A ring in process memory (the algorithm does not care where it lives).
class TestRing {
 public:
  TestRing(uint64_t limit, int64_t window) : words_(new std::atomic<int64_t>[limit]) {
    for (uint64_t i = 0; i < limit; ++i) words_[i].store(kFreeStamp);
    ring_ = Ring{words_.get(), limit, window, &hint_};
  }
  const Ring& ring() const { return ring_; }
  std::atomic<int64_t>& word(uint64_t i) { return words_[i]; }

 private:
  std::unique_ptr<std::atomic<int64_t>[]> words_;
  std::atomic<uint64_t> hint_{0};
  Ring ring_;
};

// Max permits granted within any half-open interval of length w.
uint64_t MaxInAnyWindow(std::vector<std::pair<int64_t, uint32_t>> g, int64_t w) {
  std::sort(g.begin(), g.end());
  uint64_t best = 0, sum = 0;
  size_t lo = 0;
  for (size_t hi = 0; hi < g.size(); ++hi) {
    sum += g[hi].second;
    while (g[hi].first - g[lo].first >= w) sum -= g[lo++].second;
    best = std::max(best, sum);
  }
  return best;
}

TEST(SlidingTest, AtMostLimitInAnyWindow) {
  TestRing r(5, 800 * kMs);
  bool sealed = false;
  const int64_t t0 = 10000 * kMs;
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(TryAcquire(r.ring(), 1, t0 + i * 100 * kMs, &sealed).granted);
  Decision d = TryAcquire(r.ring(), 1, t0 + 500 * kMs, &sealed);
  EXPECT_FALSE(d.granted);
  EXPECT_EQ(d.retry_after_ns, 300 * kMs);  // the first grant frees at t0+800ms
  EXPECT_FALSE(TryAcquire(r.ring(), 1, t0 + 800 * kMs - 1, &sealed).granted);
  EXPECT_TRUE(TryAcquire(r.ring(), 1, t0 + 800 * kMs, &sealed).granted);
  EXPECT_FALSE(TryAcquire(r.ring(), 1, t0 + 800 * kMs, &sealed).granted);
  EXPECT_FALSE(sealed);
}

TEST(SlidingTest, NPermitsAllOrNothing) {
  TestRing r(4, 100 * kMs);
  bool sealed = false;
  EXPECT_TRUE(TryAcquire(r.ring(), 3, kMs * 1000, &sealed).granted);
  Decision d = TryAcquire(r.ring(), 2, kMs * 1000, &sealed);
  EXPECT_FALSE(d.granted);
  // The one free word was put back: a single permit still fits.
  EXPECT_TRUE(TryAcquire(r.ring(), 1, kMs * 1000, &sealed).granted);
  EXPECT_EQ(TryAcquire(r.ring(), 5, kMs * 5000, &sealed).retry_after_ns, -1);
}

TEST(SlidingTest, ReverseTimeNeverGrantsMore) {
  TestRing r(2, 100 * kMs);
  bool sealed = false;
  EXPECT_TRUE(TryAcquire(r.ring(), 2, 1000 * kMs, &sealed).granted);
  EXPECT_FALSE(TryAcquire(r.ring(), 1, 950 * kMs, &sealed).granted);
  EXPECT_FALSE(TryAcquire(r.ring(), 1, 1099 * kMs, &sealed).granted);
  EXPECT_TRUE(TryAcquire(r.ring(), 1, 1100 * kMs, &sealed).granted);
}

TEST(SlidingTest, SealedRingDeniesAndSaysSo) {
  TestRing r(2, 100 * kMs);
  r.word(0).store(kSealed);
  r.word(1).store(kSealed);
  bool sealed = false;
  EXPECT_FALSE(TryAcquire(r.ring(), 1, 1000 * kMs, &sealed).granted);
  EXPECT_TRUE(sealed);
}

TEST(SlidingTest, RandomSweepBoundAndUtilisation) {
  for (uint64_t limit : {1u, 3u, 5u, 64u}) {
    for (int64_t w : {int64_t{1000}, 800 * kMs}) {
      TestRing r(limit, w);
      std::mt19937_64 rng(limit + w);
      std::vector<std::pair<int64_t, uint32_t>> grants;
      bool sealed = false;
      int64_t now = 1000 * w;
      const int64_t start = now;
      uint64_t total = 0;
      const int64_t step = std::max<int64_t>(1, w / int64_t(limit) / 100);
      for (int i = 0; i < 20000; ++i) {
        const uint32_t n = 1 + rng() % std::min<uint64_t>(limit, 2);
        const int64_t at =
            (rng() % 25 == 0) ? now - static_cast<int64_t>(rng() % (w / 2 + 1)) : now;
        if (TryAcquire(r.ring(), n, at, &sealed).granted) {
          grants.push_back({at, n});
          total += n;
        }
        now += static_cast<int64_t>(rng() % (2 * step)) + 1;
      }
      EXPECT_LE(MaxInAnyWindow(grants, w), limit) << "limit " << limit << " window " << w;
      const double allowed = double(limit) * (double(now - start) / double(w) + 1);
      EXPECT_GE(double(total), 0.95 * allowed - 2.0 * limit) << "limit " << limit;
    }
  }
}

TEST(SlidingTest, ReservationTakesTheEarliestTurn) {
  TestRing r(2, 100 * kMs);
  bool sealed = false;
  const int64_t t0 = 1000 * kMs;
  EXPECT_TRUE(TryAcquire(r.ring(), 1, t0, &sealed).granted);
  EXPECT_TRUE(TryAcquire(r.ring(), 1, t0 + 30 * kMs, &sealed).granted);
  Undo undo[2];
  Reservation a = Reserve(r.ring(), 1, t0 + 40 * kMs, -1, undo);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(a.grant_ns, t0 + 100 * kMs);
  Reservation too_late = Reserve(r.ring(), 1, t0 + 40 * kMs, 50 * kMs, undo);
  EXPECT_FALSE(too_late.ok);
  EXPECT_EQ(too_late.retry_after_ns, 90 * kMs);  // second word frees at t0+130ms
  // Two permits: dated when both of their words have freed.
  Undo undo2[2];
  Reservation b = Reserve(r.ring(), 2, t0 + 40 * kMs, -1, undo2);
  ASSERT_TRUE(b.ok);
  EXPECT_EQ(b.grant_ns, t0 + 200 * kMs);
  // Refund puts the words back.
  Refund(r.ring(), 2, undo2, b.grant_ns);
  Reservation c = Reserve(r.ring(), 1, t0 + 40 * kMs, -1, undo);
  EXPECT_EQ(c.grant_ns, t0 + 130 * kMs);
}

TEST(SlidingTest, UsedCountsWindow) {
  TestRing r(3, 100 * kMs);
  bool sealed = false;
  TryAcquire(r.ring(), 2, 1000 * kMs, &sealed);
  int64_t next = -5;
  EXPECT_EQ(Used(r.ring(), 1050 * kMs, &next), 2u);
  EXPECT_EQ(next, 0);
  TryAcquire(r.ring(), 1, 1050 * kMs, &sealed);
  EXPECT_EQ(Used(r.ring(), 1060 * kMs, &next), 3u);
  EXPECT_EQ(next, 40 * kMs);
  EXPECT_EQ(Used(r.ring(), 1100 * kMs, &next), 1u);
}

}  // namespace
}  // namespace sluice::sliding
