// The offline checker on hand-made logs: it accepts logs at the bound and
// rejects logs one permit over it (so a passing stress run means something).
#include "checker.h"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::stress {
namespace {

constexpr int64_t kMs = 1000 * 1000;

std::vector<Grant> At(std::initializer_list<int64_t> ts, uint64_t permits = 1) {
  std::vector<Grant> g;
  for (int64_t t : ts) g.push_back(Grant{t, permits});
  return g;
}

TEST(CheckerTest, SlidingAcceptsExactlyLimitPerWindow) {
  // limit 2 per 10 ms: grants at 0,0 then 10,10 (half-open: 0 left at 10).
  CheckResult r = CheckSliding(At({0, 0, 10 * kMs, 10 * kMs, 20 * kMs, 20 * kMs}), 2, 10 * kMs);
  EXPECT_EQ(r.violations, 0u) << r.first_violation;
  EXPECT_EQ(r.permits, 6u);
  // K = 2 windows [0,10ms) and [10ms,20ms): 4 of 4 allowed.
  EXPECT_DOUBLE_EQ(r.utilisation, 1.0);
}

TEST(CheckerTest, SlidingRejectsOneTooManyInAnyInterval) {
  // Not aligned: 5, 9 and 14 ms are within 10 ms of each other (9..14).
  EXPECT_EQ(CheckSliding(At({0, 5 * kMs, 9 * kMs, 14 * kMs}), 2, 10 * kMs).violations, 2u);
  EXPECT_EQ(CheckSliding(At({1, 5 * kMs, 10 * kMs}), 2, 10 * kMs).violations, 1u);
  EXPECT_EQ(CheckSliding(At({0, 5 * kMs, 10 * kMs}), 2, 10 * kMs).violations, 0u);
  // n-permit grants count their permits.
  std::vector<Grant> g = At({0});
  g.push_back(Grant{1, 2});
  EXPECT_EQ(CheckSliding(g, 2, 10 * kMs).violations, 1u);
}

TEST(CheckerTest, WindowIsPerAlignedWindow) {
  // 2 at the end of one window and 2 at the start of the next: allowed.
  EXPECT_EQ(CheckWindow(At({9 * kMs, 9 * kMs, 10 * kMs, 10 * kMs}), 2, 10 * kMs).violations, 0u);
  EXPECT_EQ(CheckWindow(At({0, 5 * kMs, 9 * kMs}), 2, 10 * kMs).violations, 1u);
  EXPECT_EQ(CheckWindow(At({-1, -2, -3}), 2, 10 * kMs).violations, 1u);  // window [-10ms, 0)
}

TEST(CheckerTest, GcraBound) {
  // rate 1 per ms, burst 3: 3 at t=0, then one per ms is exactly the bound.
  std::vector<Grant> ok = At({0, 0, 0, kMs, 2 * kMs, 3 * kMs});
  CheckResult r = CheckGcra(ok, 1, kMs, 3);
  EXPECT_EQ(r.violations, 0u) << r.first_violation;
  EXPECT_DOUBLE_EQ(r.utilisation, 1.0);  // 6 of 3 + 3
  // One more anywhere in [0, 3ms] exceeds it.
  std::vector<Grant> bad = ok;
  bad.push_back(Grant{2 * kMs, 1});
  EXPECT_GT(CheckGcra(bad, 1, kMs, 3).violations, 0u);
  // A burst in the middle after a quiet period is fine, 4 at once is not.
  EXPECT_EQ(CheckGcra(At({0, 100 * kMs, 100 * kMs, 100 * kMs}), 1, kMs, 3).violations, 0u);
  EXPECT_EQ(CheckGcra(At({100 * kMs}, 4), 1, kMs, 3).violations, 1u);
}

TEST(CheckerTest, HoldersHalfOpen) {
  std::vector<Grant> g = {Grant{0, 1, 10}, Grant{10, 1, 20}, Grant{5, 1, 6}};
  EXPECT_EQ(CheckHolders(g, 2).violations, 0u);
  EXPECT_EQ(CheckHolders(g, 1).violations, 1u);
  g.push_back(Grant{19, 1, 25});  // overlaps [10, 20) while holders = 1
  EXPECT_EQ(CheckHolders(g, 2).violations, 0u);
  EXPECT_EQ(CheckHolders(g, 1).violations, 2u);
}

TEST(CheckerTest, Fencing) {
  // (t, permits, end, token)
  std::vector<Grant> ok = {Grant{0, 1, 10, 1}, Grant{10, 1, 20, 2}, Grant{5, 1, 30, 3}};
  EXPECT_EQ(CheckFencing(ok).violations, 0u);
  std::vector<Grant> stale = {Grant{0, 1, 10, 2}, Grant{11, 1, 20, 1}};  // later grant, older token
  EXPECT_EQ(CheckFencing(stale).violations, 1u);
  std::vector<Grant> dup = {Grant{0, 1, 10, 1}, Grant{20, 1, 30, 1}};
  EXPECT_GT(CheckFencing(dup).violations, 0u);
  EXPECT_EQ(CheckTokenOrder({Grant{0, 1, 0, 1}, Grant{5, 1, 0, 2}}).violations, 0u);
  EXPECT_EQ(CheckTokenOrder({Grant{0, 1, 0, 2}, Grant{5, 1, 0, 1}}).violations, 1u);
}

}  // namespace
}  // namespace sluice::stress
