// The sliding ring's remembered bound (sliding.h invariant 8) through the
// public API: a full ring's denial remembers when its first word frees,
// and every change that frees words early (a grow in place or into a new
// ring, a larger share) makes the next decision read the ring again.
// (Refunds: tests/sliding_test.cc, with injected time.)
#include <gtest/gtest.h>

#include "sluice/admin/share.h"
#include "sluice/duration.h"
#include "sluice/segment.h"
#include "support/test_namespace.h"

namespace sluice {
namespace {

using testing::ScopedNamespace;
constexpr int64_t kSec = kNanosPerSecond;

int Take(Limiter& l, int max = 100) {
  int n = 0;
  for (int i = 0; i < max; ++i) n += l.TryAcquireAt(1, MonotonicNowNs()).granted;
  return n;
}

// Fills the ring and makes a denial remember its bound (exact: the first
// grant's time plus the window).
void FillAndLearn(Limiter& l, int limit) {
  const int64_t first = MonotonicNowNs();
  ASSERT_EQ(Take(l, limit), limit);
  const int64_t now = MonotonicNowNs();
  const Decision d = l.TryAcquireAt(1, now);
  ASSERT_FALSE(d.granted);
  EXPECT_LE(now + d.retry_after_ns, first + 30 * kSec + 30 * kSec / 100);
  EXPECT_GE(now + d.retry_after_ns, first + 30 * kSec);
  EXPECT_EQ(Take(l), 0);
}

TEST(SlidingBoundTest, GrowInPlaceGrantsTheNewWordsAtOnce) {
  ScopedNamespace ns("bgrow");
  Segment seg = ns.Open();
  Limiter l = *seg.Define("s", LimiterSpec::Sliding(8, 30 * kSec));
  ASSERT_TRUE(seg.Define("s", LimiterSpec::Sliding(4, 30 * kSec)).ok());  // capacity stays 8
  FillAndLearn(l, 4);
  ASSERT_TRUE(seg.Define("s", LimiterSpec::Sliding(6, 30 * kSec)).ok());  // in place
  EXPECT_EQ(Take(l), 2);
  ASSERT_TRUE(seg.Define("s", LimiterSpec::Sliding(40, 30 * kSec)).ok());  // a new ring
  EXPECT_EQ(Take(l), 34);
}

TEST(SlidingBoundTest, ShrinkKeepsTheRingFullAndALargerShareFreesWords) {
  ScopedNamespace ns("bshare");
  Segment seg = ns.Open();
  LimiterSpec spec = LimiterSpec::Sliding(10, 30 * kSec);
  spec.global = true;
  Limiter l = *seg.Define("s", spec);
  admin::Share share;
  share.amount = 3;
  share.expires_ns = admin::kForever;
  ASSERT_TRUE(admin::PublishShare(seg, "s", share).ok());
  FillAndLearn(l, 3);
  share.amount = 2;  // a shrink: still full
  ASSERT_TRUE(admin::PublishShare(seg, "s", share).ok());
  EXPECT_EQ(Take(l), 0);
  share.amount = 5;
  ASSERT_TRUE(admin::PublishShare(seg, "s", share).ok());
  EXPECT_EQ(Take(l), 2);
}

}  // namespace
}  // namespace sluice
