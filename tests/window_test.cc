#include "window.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace sluice::window {
namespace {

constexpr int64_t kMs = 1000000;

TEST(WindowTest, LimitPerAlignedWindow) {
  std::atomic<int64_t> st{0};
  const Params p{3, 100 * kMs};
  const int64_t t0 = 1000 * kMs;  // a window start
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(TryAcquire(st, p, 1, t0 + i).granted);
  Decision d = TryAcquire(st, p, 1, t0 + 10 * kMs);
  EXPECT_FALSE(d.granted);
  EXPECT_EQ(d.retry_after_ns, 90 * kMs);
  EXPECT_TRUE(TryAcquire(st, p, 1, t0 + 100 * kMs).granted);
}

TEST(WindowTest, BoundaryAllowsTwiceTheLimitAcrossIt) {
  // The documented weakness of fixed windows: limit at the end of one
  // window and limit at the start of the next, 2 ns apart.
  std::atomic<int64_t> st{0};
  const Params p{5, 100 * kMs};
  EXPECT_TRUE(TryAcquire(st, p, 5, 200 * kMs - 1).granted);
  EXPECT_TRUE(TryAcquire(st, p, 5, 200 * kMs).granted);
}

TEST(WindowTest, NPermitsAndCapacity) {
  std::atomic<int64_t> st{0};
  const Params p{4, 10 * kMs};
  EXPECT_EQ(TryAcquire(st, p, 5, kMs).retry_after_ns, -1);
  EXPECT_TRUE(TryAcquire(st, p, 3, kMs).granted);
  EXPECT_FALSE(TryAcquire(st, p, 2, kMs).granted);
  EXPECT_TRUE(TryAcquire(st, p, 1, kMs).granted);
  EXPECT_EQ(Used(st.load(), p, kMs), 4u);
  EXPECT_EQ(Used(st.load(), p, 11 * kMs), 0u);
}

TEST(WindowTest, StaleClockCountsAgainstNewerWindow) {
  std::atomic<int64_t> st{0};
  const Params p{2, 100 * kMs};
  EXPECT_TRUE(TryAcquire(st, p, 2, 550 * kMs).granted);  // window 5
  // A caller whose clock still reads window 4 is counted in window 5.
  EXPECT_FALSE(TryAcquire(st, p, 1, 450 * kMs).granted);
  EXPECT_EQ(Used(st.load(), p, 550 * kMs), 2u);
}

TEST(WindowTest, IndexWrapAfterLongIdleUsesTheEpochHint) {
  std::atomic<int64_t> st{0};
  std::atomic<uint64_t> epoch{0};
  const Params p{1, 1000};  // 1 us windows: the 40-bit index wraps in 12.7 days
  EXPECT_TRUE(TryAcquire(st, p, 1, 5000, {}, nullptr, &epoch).granted);
  EXPECT_EQ(epoch.load(), 5u);
  // 2^40 - 2^33 windows later the 40-bit index looks 2^33 windows "behind":
  // the full index is past the epoch, so it is a new window.
  const int64_t later = (5 + (int64_t{1} << 40) - (int64_t{1} << 33)) * 1000;
  EXPECT_TRUE(TryAcquire(st, p, 1, later, {}, nullptr, &epoch).granted);
  // Without the hint the ambiguous reading is the conservative one.
  std::atomic<int64_t> st2{0};
  EXPECT_TRUE(TryAcquire(st2, p, 1, 5000).granted);
  EXPECT_FALSE(TryAcquire(st2, p, 1, later).granted);
}

TEST(WindowTest, VeryStaleClockNeverMovesTheWindowBack) {
  std::atomic<int64_t> st{0};
  std::atomic<uint64_t> epoch{0};
  const Params p{1, 1000};
  const int64_t t1 = 10000000000000;  // 10^13 ns
  EXPECT_TRUE(TryAcquire(st, p, 1, t1, {}, nullptr, &epoch).granted);
  // A clock 5*10^12 ns (5*10^9 windows, more than 2^32) behind.
  EXPECT_FALSE(TryAcquire(st, p, 1, t1 - 5000000000000, {}, nullptr, &epoch).granted);
  EXPECT_FALSE(TryAcquire(st, p, 1, t1 + 1, {}, nullptr, &epoch).granted);
  EXPECT_TRUE(TryAcquire(st, p, 1, t1 + 1000, {}, nullptr, &epoch).granted);
}

TEST(WindowTest, RandomSweepNeverExceedsPerWindow) {
  for (uint64_t limit : {1u, 2u, 7u, 100u}) {
    for (int64_t w : {int64_t{1000}, 10 * kMs, 1000 * kMs}) {
      std::atomic<int64_t> st{0};
      const Params p{limit, w};
      std::mt19937_64 rng(limit * 7 + w);
      std::map<int64_t, uint64_t> per_window;
      int64_t now = 123 * w;
      for (int i = 0; i < 5000; ++i) {
        const uint32_t n = 1 + rng() % std::min<uint64_t>(limit, 3);
        if (TryAcquire(st, p, n, now).granted) per_window[now / w] += n;
        now += static_cast<int64_t>(rng() % (w / 4 + 1));
      }
      for (const auto& [idx, n] : per_window) EXPECT_LE(n, limit) << "window " << idx;
    }
  }
}

}  // namespace
}  // namespace sluice::window
