// Fleet shares in the segment (docs/fleet.md, "The host side"): a global
// limiter's amount comes from a share that the library lapses to its
// fallback and to 0 on the decision path. Time is injected through the
// *At calls (a decision at `now` past a stage's end lapses it).
#include "sluice/admin/share.h"

#include <gtest/gtest.h>

#include "sluice/duration.h"
#include "sluice/segment.h"
#include "support/test_namespace.h"

namespace sluice {
namespace {

using testing::ScopedNamespace;
constexpr int64_t kMs = kNanosPerMilli;
constexpr int64_t kSec = kNanosPerSecond;

LimiterSpec Global(LimiterSpec s) {
  s.global = true;
  return s;
}

int Take(Limiter& l, int64_t now, int max = 1000) {
  int n = 0;
  for (int i = 0; i < max; ++i) n += l.TryAcquireAt(1, now).granted;
  return n;
}

admin::Share ShareOf(uint64_t amount, int64_t expires, uint64_t fallback = 0,
                     int64_t fallback_until = 0, uint64_t epoch = 0) {
  admin::Share s;
  s.amount = amount;
  s.expires_ns = expires;
  s.fallback_amount = fallback;
  s.fallback_until_ns = fallback_until;
  s.epoch = epoch;
  return s;
}

TEST(ShareTest, NoShareMeansClosedNotNever) {
  ScopedNamespace ns("shnone");
  Segment seg = ns.Open();
  Limiter l = *seg.Define("s", Global(LimiterSpec::Sliding(100, kSec)));
  const Decision d = l.TryAcquire(1);
  EXPECT_FALSE(d.granted);
  EXPECT_EQ(d.denial, Denial::kBusy);
  EXPECT_GT(d.retry_after_ns, 0);
  EXPECT_EQ(l.spec().limit, 0u);
  StatusOr<admin::FleetFigures> f = admin::ReadFleet(seg, "s");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->stage, admin::ShareStage::kNone);
  EXPECT_EQ(f->cap, 100u);
  // More than the cap can never be granted; within it, not now.
  EXPECT_EQ(l.Acquire(101, 0).code(), Code::kInvalidArgument);
  EXPECT_EQ(l.Acquire(5, 10 * kMs).code(), Code::kTimeout);
}

// More than the share in force but within the cap is "not now" on every
// path, the hot path included (a larger share may come).
TEST(ShareTest, MoreThanTheShareWithinTheCapIsBusyOnTheHotPath) {
  ScopedNamespace ns("shmore");
  Segment seg = ns.Open();
  Limiter g = *seg.Define("g", Global(LimiterSpec::Gcra(100, kSec, 10)));
  Limiter w = *seg.Define("w", Global(LimiterSpec::Window(100, kSec)));
  const int64_t end = MonotonicNowNs() + 100 * kSec;
  admin::Share s = ShareOf(50, end);
  s.burst = 5;
  ASSERT_TRUE(admin::PublishShare(seg, "g", s).ok());
  ASSERT_TRUE(admin::PublishShare(seg, "w", ShareOf(5, end)).ok());
  for (int i = 0; i < 3; ++i) {  // the first may take the slow path
    const Decision dg = g.TryAcquire(7);
    EXPECT_FALSE(dg.granted);
    EXPECT_EQ(dg.denial, Denial::kBusy) << "gcra, try " << i;
    const Decision dw = w.TryAcquire(7);
    EXPECT_FALSE(dw.granted);
    EXPECT_EQ(dw.denial, Denial::kBusy) << "window, try " << i;
  }
  EXPECT_EQ(g.TryAcquire(11).denial, Denial::kNever);  // more than the cap's burst
  EXPECT_EQ(w.TryAcquire(101).denial, Denial::kNever);
}

TEST(ShareTest, AppliedRenewedLapsedToFallbackThenToZero) {
  ScopedNamespace ns("shlife");
  Segment seg = ns.Open();
  Limiter l = *seg.Define("s", Global(LimiterSpec::Sliding(100, 100 * kMs)));
  const int64_t t0 = MonotonicNowNs();
  const int64_t end = t0 + 10 * kSec;
  ASSERT_TRUE(admin::PublishShare(seg, "s", ShareOf(40, end, 10, end + 10 * kSec)).ok());
  EXPECT_EQ(Take(l, t0 + kMs), 40);
  // Renewed (same amount, later end): the grants made still count.
  ASSERT_TRUE(admin::PublishShare(seg, "s", ShareOf(40, end + kSec, 10, end + 10 * kSec)).ok());
  EXPECT_EQ(Take(l, t0 + 2 * kMs), 0);
  EXPECT_EQ(Take(l, t0 + 200 * kMs), 40);
  // The share ends: the first decision past it applies the fallback.
  EXPECT_EQ(Take(l, end + kSec + kMs), 10);
  StatusOr<admin::FleetFigures> f = admin::ReadFleet(seg, "s");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->stage, admin::ShareStage::kFallback);
  EXPECT_EQ(f->spec.limit, 10u);
  // Then the fallback ends: 0, denied as busy.
  EXPECT_EQ(Take(l, end + 10 * kSec + kSec), 0);
  const Decision d = l.TryAcquireAt(1, end + 10 * kSec + 2 * kSec);
  EXPECT_EQ(d.denial, Denial::kBusy);
  f = admin::ReadFleet(seg, "s");
  EXPECT_EQ(f->stage, admin::ShareStage::kLapsed);
  EXPECT_EQ(l.spec().limit, 0u);
}

TEST(ShareTest, EpochsOnlyMoveForward) {
  ScopedNamespace ns("shepoch");
  Segment seg = ns.Open();
  Limiter l = *seg.Define("g", Global(LimiterSpec::Gcra(0, kSec, 0)));
  ASSERT_TRUE(admin::PublishShare(seg, "g", ShareOf(5, admin::kForever, 0, 0, 7)).ok());
  const Status old = admin::PublishShare(seg, "g", ShareOf(500, admin::kForever, 0, 0, 6));
  EXPECT_EQ(old.code(), Code::kExists) << old.ToString();
  EXPECT_EQ(l.spec().rate, 5u) << "a stale allotter overwrote a newer share";
  EXPECT_TRUE(admin::PublishShare(seg, "g", ShareOf(6, admin::kForever, 0, 0, 7)).ok());
  EXPECT_TRUE(admin::PublishShare(seg, "g", ShareOf(7, admin::kForever, 0, 0, 8)).ok());
  EXPECT_EQ(admin::ReadFleet(seg, "g")->epoch, 8u);
}

TEST(ShareTest, TheBudgetAmountIsACapAndRedefiningKeepsTheShare) {
  ScopedNamespace ns("shcap");
  Segment seg = ns.Open();
  Limiter l = *seg.Define("g", Global(LimiterSpec::Gcra(50, kSec, 10)));
  ASSERT_TRUE(admin::PublishShare(seg, "g", ShareOf(500, admin::kForever)).ok());
  EXPECT_EQ(l.spec().rate, 50u);
  EXPECT_EQ(l.spec().burst, 10u);
  ASSERT_TRUE(admin::PublishShare(seg, "g", ShareOf(20, admin::kForever)).ok());
  EXPECT_EQ(l.spec().rate, 20u);
  EXPECT_EQ(l.spec().burst, 4u) << "no burst given: the cap's, scaled to the amount";
  // Applying the budget again (same caps) changes nothing; a lower cap cuts
  // the share in force, a higher one lets it through again.
  ASSERT_TRUE(seg.Define("g", Global(LimiterSpec::Gcra(50, kSec, 10))).ok());
  EXPECT_EQ(l.spec().rate, 20u);
  ASSERT_TRUE(seg.Define("g", Global(LimiterSpec::Gcra(10, kSec, 10))).ok());
  EXPECT_EQ(l.spec().rate, 10u);
  ASSERT_TRUE(seg.Define("g", Global(LimiterSpec::Gcra(100, kSec, 10))).ok());
  EXPECT_EQ(l.spec().rate, 20u);
}

TEST(ShareTest, BadSharesAreRefusedAndChangeNothing) {
  ScopedNamespace ns("shbad");
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define("local", LimiterSpec::Sliding(5, kSec)).ok());
  Limiter l = *seg.Define("s", Global(LimiterSpec::Sliding(0, kSec)));
  ASSERT_TRUE(admin::PublishShare(seg, "s", ShareOf(3, admin::kForever)).ok());
  EXPECT_EQ(admin::PublishShare(seg, "local", ShareOf(3, admin::kForever)).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(admin::PublishShare(seg, "nope", ShareOf(3, admin::kForever)).code(), Code::kNotFound);
  EXPECT_EQ(admin::PublishShare(seg, "s", ShareOf(kMaxSlidingLimit + 1, admin::kForever)).code(),
            Code::kInvalidArgument);
  admin::Share burst = ShareOf(3, admin::kForever);
  burst.burst = 2;
  EXPECT_EQ(admin::PublishShare(seg, "s", burst).code(), Code::kInvalidArgument);
  const int64_t now = MonotonicNowNs();
  EXPECT_EQ(admin::PublishShare(seg, "s", ShareOf(3, now + kSec, 2, now)).code(),
            Code::kInvalidArgument)
      << "a fallback that ends before the share";
  EXPECT_EQ(l.spec().limit, 3u);
  EXPECT_EQ(admin::ReadFleet(seg, "local").status().code(), Code::kInvalidArgument);
}

// drained: from then on the host cannot be using more than the amount in
// force; checked here against what the limiter still grants.
TEST(ShareTest, DrainedTimeOfEachAlgorithm) {
  ScopedNamespace ns("shdrain");
  Segment seg = ns.Open();
  const int64_t w = 200 * kMs;
  Limiter s = *seg.Define("s", Global(LimiterSpec::Sliding(0, w)));
  Limiter f = *seg.Define("f", Global(LimiterSpec::Sliding(0, w)));  // fits its cut
  Limiter l = *seg.Define("l", Global(LimiterSpec::Lease(0, w, false)));
  Limiter g = *seg.Define("g", Global(LimiterSpec::Gcra(0, kSec, 0)));
  for (const char* n : {"s", "f", "l"}) {
    ASSERT_TRUE(admin::PublishShare(seg, n, ShareOf(10, admin::kForever)).ok());
  }
  admin::Share gs = ShareOf(100, admin::kForever);
  gs.burst = 50;
  ASSERT_TRUE(admin::PublishShare(seg, "g", gs).ok());
  EXPECT_EQ(admin::ReadFleet(seg, "s")->drained_ns, 0) << "grows never wait";
  int leases = 0;
  for (int i = 0; i < 10; ++i) leases += l.TryAcquireLeaseAt(MonotonicNowNs()).ok();
  EXPECT_EQ(leases, 10);
  const int64_t granted_at = MonotonicNowNs();
  EXPECT_EQ(Take(s, granted_at, 20), 10);
  EXPECT_EQ(Take(f, granted_at, 3), 3);
  EXPECT_EQ(Take(g, MonotonicNowNs(), 100), 50);
  const int64_t before = MonotonicNowNs();
  for (const char* n : {"s", "f", "l"}) {
    ASSERT_TRUE(admin::PublishShare(seg, n, ShareOf(4, admin::kForever)).ok());
  }
  gs.amount = 10;
  gs.burst = 5;
  ASSERT_TRUE(admin::PublishShare(seg, "g", gs).ok());
  const int64_t after = MonotonicNowNs();
  // sliding: once the grants still in the window fit the new amount: the
  // 6 of 10 that do not fit 4 leave it one window after they were made ...
  const int64_t ds = admin::ReadFleet(seg, "s")->drained_ns;
  EXPECT_EQ(ds, granted_at + w);
  EXPECT_EQ(Take(s, ds - kMs, 20), 0) << "10 grants still count before drained";
  // ... and 3 grants fit 4 at once: drained when cut.
  const int64_t df = admin::ReadFleet(seg, "f")->drained_ns;
  EXPECT_GE(df, before);
  EXPECT_LE(df, after);
  EXPECT_EQ(Take(f, after, 20), 1) << "3 + 1 = the new 4";
  // lease: when the leases above the new holder count have ended.
  const int64_t dl = admin::ReadFleet(seg, "l")->drained_ns;
  EXPECT_GE(dl, before + w - 5 * kMs);
  EXPECT_LE(dl, after + w);
  // gcra: when the debt taken under the old amounts is paid at the new
  // rate (50 permits at 10/s: about 5 s).
  const int64_t dg = admin::ReadFleet(seg, "g")->drained_ns;
  EXPECT_GE(dg, before + 4 * kSec);
  EXPECT_LE(dg, after + 6 * kSec);
  // (It grants again once the debt is below the new burst: 5 permits.)
  EXPECT_EQ(Take(g, dg - kSec, 100), 0);
  EXPECT_GE(Take(g, dg + kMs, 100), 1);
}

// Shares, and ordinary redefinitions, run in bounded space: the arena does
// not move however many changes a limiter sees (within its capacity).
TEST(ShareTest, ChangesRunInBoundedSpace) {
  ScopedNamespace ns("shspace");
  Segment seg = ns.Open();
  Limiter s = *seg.Define("s", Global(LimiterSpec::Sliding(1000, 50 * kMs)));
  Limiter l = *seg.Define("l", Global(LimiterSpec::Lease(64, 50 * kMs, false)));
  Limiter g = *seg.Define("g", Global(LimiterSpec::Gcra(1000, kSec, 100)));
  Limiter w = *seg.Define("w", Global(LimiterSpec::Window(1000, 50 * kMs)));
  Limiter r = *seg.Define("r", LimiterSpec::Sliding(100, 50 * kMs));
  // The first share of each, and one redefinition: rings are sized here.
  for (const char* n : {"s", "l", "g", "w"}) {
    ASSERT_TRUE(admin::PublishShare(seg, n, ShareOf(1, admin::kForever)).ok());
  }
  const uint64_t used = seg.Info().arena_used;
  constexpr int kChanges = 2000;
  for (int i = 0; i < kChanges; ++i) {
    const uint64_t a = 1 + uint64_t(i * 7919) % 64;
    const int64_t now = MonotonicNowNs();
    for (const char* n : {"s", "l", "g", "w"}) {
      const bool ends = i % 3 == 0;  // then lapses on the next decisions
      const admin::Share share = ShareOf(a, ends ? now + kMs : admin::kForever, ends ? a / 2 : 0,
                                         ends ? now + 2 * kMs : 0);
      ASSERT_TRUE(admin::PublishShare(seg, n, share).ok()) << n << " " << i;
    }
    ASSERT_TRUE(seg.Define("r", LimiterSpec::Sliding(1 + a, (1 + i % 5) * 10 * kMs)).ok());
    s.TryAcquire(1);
    l.TryAcquire(1);
    g.TryAcquire(1);
    w.TryAcquire(1);
    r.TryAcquire(1);
  }
  EXPECT_EQ(seg.Info().arena_used, used) << "changes took arena space";
  EXPECT_GE(admin::ReadFleet(seg, "s")->changes, uint64_t{kChanges});
}

}  // namespace
}  // namespace sluice
