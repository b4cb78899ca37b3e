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
    ring_.free_at = &free_at_;
    ring_.free_seq = &free_seq_;
  }
  const Ring& ring() const { return ring_; }
  std::atomic<int64_t>& word(uint64_t i) { return words_[i]; }
  int64_t free_at() const { return free_at_.load(); }
  // What a parameter change does after rewriting words (slot_table.cc).
  void Forget() { ForgetFreeAt(&free_at_, &free_seq_); }

 private:
  std::unique_ptr<std::atomic<int64_t>[]> words_;
  std::atomic<uint64_t> hint_{0};
  std::atomic<int64_t> free_at_{0};
  std::atomic<uint64_t> free_seq_{0};
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

// Invariant 8: a denial that scanned the whole ring remembers the earliest
// expiry; denials before it return that exact wait without reading words.
TEST(SlidingTest, FullRingRemembersEarliestExpiry) {
  TestRing r(4, 100 * kMs);
  bool sealed = false;
  const int64_t t0 = 1000 * kMs;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(TryAcquire(r.ring(), 1, t0 + i * kMs, &sealed).granted);
  EXPECT_EQ(r.free_at(), 0);
  Decision d = TryAcquire(r.ring(), 1, t0 + 10 * kMs, &sealed);
  EXPECT_FALSE(d.granted);
  EXPECT_EQ(d.retry_after_ns, 90 * kMs);
  EXPECT_EQ(r.free_at(), t0 + 100 * kMs);
  // A word written behind the algorithm's back is not read before the bound.
  r.word(3).store(kFreeStamp);
  for (int64_t t : {11 * kMs, 50 * kMs, 100 * kMs - 1}) {
    d = TryAcquire(r.ring(), 1, t0 + t, &sealed);
    EXPECT_FALSE(d.granted);
    EXPECT_EQ(d.retry_after_ns, 100 * kMs - t);  // exact
  }
  // Time that goes backwards is still before the bound.
  EXPECT_EQ(TryAcquire(r.ring(), 1, t0 - 5 * kMs, &sealed).retry_after_ns, 105 * kMs);
  // At the bound the ring is read again.
  EXPECT_TRUE(TryAcquire(r.ring(), 1, t0 + 100 * kMs, &sealed).granted);
  EXPECT_FALSE(sealed);
}

TEST(SlidingTest, BoundIsExactAcrossExpiries) {
  TestRing r(3, 100 * kMs);
  bool sealed = false;
  const int64_t t0 = 1000 * kMs;
  for (int64_t at : {0 * kMs, 7 * kMs, 30 * kMs}) {
    ASSERT_TRUE(TryAcquire(r.ring(), 1, t0 + at, &sealed).granted);
  }
  // Each word frees at grant + 100ms; a saturating caller gets each one at
  // the exact time the previous denial named.
  int64_t now = t0 + 31 * kMs;
  for (int i = 0; i < 12; ++i) {
    Decision d = TryAcquire(r.ring(), 1, now, &sealed);
    ASSERT_FALSE(d.granted) << i;
    now += d.retry_after_ns;
    EXPECT_FALSE(TryAcquire(r.ring(), 1, now - 1, &sealed).granted) << i;
    ASSERT_TRUE(TryAcquire(r.ring(), 1, now, &sealed).granted) << i;
  }
  EXPECT_EQ(now, t0 + 30 * kMs + 400 * kMs);  // 12 grants, 3 per window
}

TEST(SlidingTest, RefundForgetsTheBound) {
  TestRing r(2, 100 * kMs);
  bool sealed = false;
  const int64_t t0 = 1000 * kMs;
  ASSERT_TRUE(TryAcquire(r.ring(), 1, t0, &sealed).granted);
  Undo undo[1];
  Reservation res = Reserve(r.ring(), 1, t0 + 10 * kMs, -1, undo);  // the free word
  ASSERT_TRUE(res.ok);
  EXPECT_FALSE(TryAcquire(r.ring(), 1, t0 + 20 * kMs, &sealed).granted);
  EXPECT_EQ(r.free_at(), t0 + 100 * kMs);
  Refund(r.ring(), 1, undo, res.grant_ns);  // the word is free again at once
  EXPECT_EQ(r.free_at(), 0);
  EXPECT_TRUE(TryAcquire(r.ring(), 1, t0 + 21 * kMs, &sealed).granted);
}

TEST(SlidingTest, PartialGrantRollbackForgetsTheBound) {
  TestRing r(3, 100 * kMs);
  bool sealed = false;
  const int64_t t0 = 1000 * kMs;
  ASSERT_TRUE(TryAcquire(r.ring(), 3, t0, &sealed).granted);
  EXPECT_FALSE(TryAcquire(r.ring(), 1, t0 + 1, &sealed).granted);
  EXPECT_EQ(r.free_at(), t0 + 100 * kMs);
  // One word frees; a request for two takes it, fails, and puts it back.
  r.word(0).store(t0 - 100 * kMs);
  r.Forget();  // (what the writer of an early-free word does)
  Decision d = TryAcquire(r.ring(), 2, t0 + 2, &sealed);
  EXPECT_FALSE(d.granted);
  EXPECT_EQ(r.free_at(), 0);  // rolled back: nothing remembered
  EXPECT_TRUE(TryAcquire(r.ring(), 1, t0 + 3, &sealed).granted);
}

TEST(SlidingTest, ForgetClearsTheBoundAndMovesTheSequence) {
  std::atomic<int64_t> free_at{0};
  std::atomic<uint64_t> seq{5};
  std::atomic<int64_t> word{1000 * kMs};
  std::atomic<uint64_t> hint{0};
  Ring ring{&word, 1, 100 * kMs, &hint};
  ring.free_at = &free_at;
  ring.free_seq = &seq;
  bool sealed = false;
  EXPECT_FALSE(TryAcquire(ring, 1, 1010 * kMs, &sealed).granted);
  EXPECT_EQ(free_at.load(), 1100 * kMs);
  ForgetFreeAt(&free_at, &seq);
  EXPECT_EQ(free_at.load(), 0);
  EXPECT_EQ(seq.load(), 6u);
}

// Large rings: the first kMaxScan words are read; the rest only when the
// bound it would learn outlasts the scan.
TEST(SlidingTest, LargeRingLearnsBoundWhenWorthIt) {
  const uint64_t limit = 3 * kMaxScan;
  TestRing r(limit, 1000 * kMs);
  bool sealed = false;
  const int64_t t0 = 10000 * kMs;
  ASSERT_TRUE(TryAcquire(r.ring(), uint32_t(limit), t0, &sealed).granted);
  Decision d = TryAcquire(r.ring(), 1, t0 + kMs, &sealed);
  EXPECT_FALSE(d.granted);
  EXPECT_EQ(d.retry_after_ns, 999 * kMs);
  EXPECT_EQ(r.free_at(), t0 + 1000 * kMs);
  // Close to the next expiry (less than a nanosecond per word left): no
  // full scan, an upper-bound answer as before.
  TestRing q(limit, 1000 * kMs);
  ASSERT_TRUE(TryAcquire(q.ring(), uint32_t(limit), t0, &sealed).granted);
  d = TryAcquire(q.ring(), 1, t0 + 1000 * kMs - 100, &sealed);
  EXPECT_FALSE(d.granted);
  EXPECT_EQ(d.retry_after_ns, 100);
  EXPECT_EQ(q.free_at(), 0);
}

}  // namespace
}  // namespace sluice::sliding
