// Shares for the life of a segment (issue: fleet shares in the segment):
// a forwarder-like updater publishes share after share (amounts rotating,
// every few a short share that lapses to its fallback) for four global
// limiters, one per algorithm, while forked workers hammer them. The arena
// must end where it began, and the grant log must never show more than the
// largest amount: no grant lost across in-place ring and table rewrites.
// 200,000 changes by default; ten million with SLUICE_LONG_TESTS (or
// $SLUICE_SHARE_CHANGES).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "checker.h"
#include "sluice/admin/share.h"
#include "sluice/limiter.h"
#include "sluice/segment.h"
#include "stress_support.h"
#include "support/test_namespace.h"

namespace sluice::stress {
namespace {

constexpr int64_t kMs = 1000 * 1000;
constexpr int64_t kSec = 1000 * kMs;
constexpr uint64_t kHigh = 40;  // the largest amount ever shared

uint64_t Changes() {
  if (const char* e = std::getenv("SLUICE_SHARE_CHANGES")) return std::strtoull(e, nullptr, 10);
#ifdef SLUICE_LONG_TESTS
  return 10'000'000;
#else
  return 200'000;
#endif
}

LimiterSpec Global(LimiterSpec s) {
  s.global = true;
  return s;
}

struct Control {
  std::atomic<int> stop{0};
};

const char* const kNames[] = {"sliding", "lease", "gcra", "window"};

// Each worker logs at most `quota` grants per log (a long soak makes more
// than memory holds); grants not logged can only hide a violation.
int WorkerMain(int i, const std::string& ns, Control* ctl, GrantLog* sliding_log,
               GrantLog* lease_log, size_t quota) {
  size_t logged_sliding = 0, logged_leases = 0;
  StatusOr<Segment> seg = Segment::Open(ns);
  if (!seg.ok()) return 2;
  std::vector<Limiter> l;
  for (const char* n : kNames) {
    StatusOr<Limiter> x = seg->Find(n);
    if (!x.ok()) return 3;
    l.push_back(*x);
  }
  Rng rng(0x50a4 + uint64_t(i));
  while (ctl->stop.load() == 0) {
    const Decision d = l[0].TryAcquire(1);
    if (d.granted && logged_sliding++ < quota) {
      Grant g;
      g.t = d.now_ns;
      g.worker = i;
      sliding_log->Append(g);
    }
    StatusOr<Lease> held = l[1].TryAcquireLeaseAt(MonotonicNowNs());
    if (held.ok() && logged_leases++ >= quota) {
      l[1].ReleaseLease(*held);
    } else if (held.ok()) {
      Grant g;
      g.t = held->granted_ns;
      g.worker = i;
      g.token = held->token;
      g.seen = MonotonicNowNs();
      g.end = held->expires_ns;
      const int64_t idx = lease_log->Append(g);
      // Read before the release: never later than the real release.
      lease_log->SetEnd(idx, std::min(MonotonicNowNs(), held->expires_ns));
      if (!l[1].ReleaseLease(*held).ok()) lease_log->SetEnd(idx, held->expires_ns);
    }
    l[2].TryAcquire(1 + uint32_t(rng.Below(2)));
    l[3].TryAcquire(1);
  }
  return 0;
}

TEST(ShareSoakTest, SharesForeverInBoundedSpace) {
  if (kTsan) GTEST_SKIP() << "forks workers; TSan runs the threaded stress tests";
  testing::ScopedNamespace ns("sharesoak");
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define("sliding", Global(LimiterSpec::Sliding(kHigh, 20 * kMs))).ok());
  ASSERT_TRUE(seg.Define("lease", Global(LimiterSpec::Lease(kHigh, 5 * kMs, false))).ok());
  ASSERT_TRUE(seg.Define("gcra", Global(LimiterSpec::Gcra(kHigh * 1000, kSec, kHigh))).ok());
  ASSERT_TRUE(seg.Define("window", Global(LimiterSpec::Window(kHigh, 20 * kMs))).ok());
  auto publish = [&](const char* n, uint64_t amount, bool lapsing) {
    admin::Share s;
    s.amount = std::string(n) == "gcra" ? amount * 1000 : amount;
    s.burst = std::string(n) == "gcra" ? amount : 0;
    s.epoch = 1;
    if (lapsing) {
      const int64_t now = MonotonicNowNs();
      s.expires_ns = now + 50 * 1000;  // 50 us, then the fallback, then 0
      s.fallback_amount = std::max<uint64_t>(1, s.amount / 2);
      s.fallback_burst = s.burst == 0 ? 0 : std::max<uint64_t>(1, s.burst / 2);
      s.fallback_until_ns = s.expires_ns + 50 * 1000;
    }
    return admin::PublishShare(seg, n, s);
  };
  for (const char* n : kNames) ASSERT_TRUE(publish(n, kHigh, false).ok());
  const uint64_t arena = seg.Info().arena_used;

  Shared<Control> ctl;
  GrantLog sliding_log(size_t(4e6));
  GrantLog lease_log(size_t(4e6));
  const int workers = StressWorkers(3);
  std::vector<pid_t> pids;
  for (int i = 0; i < workers; ++i) {
    pids.push_back(ForkChild([&, i] {
      return WorkerMain(i, ns.ns(), &*ctl, &sliding_log, &lease_log, size_t(4e6) / workers);
    }));
  }
  const uint64_t changes = Changes();
  const int64_t start = MonotonicNowNs();
  uint64_t published = 0;
  for (uint64_t k = 0; published < changes; ++k) {
    const uint64_t amount = 1 + (k * 7919) % kHigh;
    const char* n = kNames[k % 4];
    const Status s = publish(n, amount, k % 7 == 3);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ++published;
  }
  const double secs = double(MonotonicNowNs() - start) / 1e9;
  ctl->stop = 1;
  for (pid_t p : pids) {
    int status = 0;
    ASSERT_TRUE(WaitExit(p, MonotonicNowNs() + 30 * kSec, &status)) << "worker hung";
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "worker status " << status;
  }
  ASSERT_EQ(sliding_log.overflowed(), 0u);
  ASSERT_EQ(lease_log.overflowed(), 0u);
  EXPECT_EQ(seg.Info().arena_used, arena) << "share changes took arena space";

  std::vector<Grant> grants = sliding_log.Committed();
  std::sort(grants.begin(), grants.end(), [](const Grant& a, const Grant& b) { return a.t < b.t; });
  const CheckResult rs = CheckSliding(grants, kHigh, 20 * kMs);
  std::vector<Grant> leases = lease_log.Committed();
  std::sort(leases.begin(), leases.end(), [](const Grant& a, const Grant& b) { return a.t < b.t; });
  const CheckResult rl = CheckHolders(leases, kHigh);
  uint64_t sliding_changes = 0;
  if (StatusOr<admin::FleetFigures> f = admin::ReadFleet(seg, "sliding"); f.ok()) {
    sliding_changes = f->changes;
  }
  std::printf(
      "[stress] share soak: %llu shares published in %.1f s (%.0f/s), %d workers, %zu sliding "
      "grants, %zu leases, arena %llu -> %llu bytes, %llu + %llu violations\n",
      (unsigned long long)published, secs, double(published) / secs, workers, grants.size(),
      leases.size(), (unsigned long long)arena, (unsigned long long)seg.Info().arena_used,
      (unsigned long long)rs.violations, (unsigned long long)rl.violations);
  EXPECT_EQ(rs.violations, 0u) << rs.first_violation;
  EXPECT_EQ(rl.violations, 0u) << rl.first_violation;
  EXPECT_GT(grants.size(), 100u);
  EXPECT_GT(leases.size(), 100u);
  EXPECT_GE(sliding_changes, changes / 4);
}

}  // namespace
}  // namespace sluice::stress
