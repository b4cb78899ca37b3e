// Fault injection: workers are SIGKILLed at random instructions (>= 100
// kills per run) and respawned while the others keep hammering gcra,
// sliding and two lease limiters. Proves:
//  - liveness: no survivor hangs (every worker not killed exits by a
//    watchdog deadline once told to stop), the segment stays usable;
//  - no corruption: the guarantees still hold over every logged grant, and
//    a fresh process can attach and get grants afterwards;
//  - a killed holder's lease comes back no later than ttl (reclaim=false)
//    and early with reclaim=true.
//
// Soundness with kills: a worker killed after a grant but before its log
// record is committed hides that grant. The checker then verifies the
// logged subset, which is valid whenever the full set is (every guarantee
// is an "at most" property), so a kill can hide a violation but never
// invent one. The main purpose of this test is liveness and the absence of
// corruption; hammer_test proves the guarantees with complete logs.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "checker.h"
#include "sluice/limiter.h"
#include "sluice/segment.h"
#include "stress_support.h"
#include "support/test_namespace.h"

namespace sluice::stress {
namespace {

constexpr int64_t kMs = 1000 * 1000;
constexpr int64_t kSec = 1000 * kMs;

const LimiterSpec kSliding = LimiterSpec::Sliding(50, 20 * kMs);
const LimiterSpec kGcra = LimiterSpec::Gcra(5000, kSec, 20);
const LimiterSpec kLease = LimiterSpec::Lease(2, 30 * kMs, /*reclaim=*/false);
const LimiterSpec kReclaim = LimiterSpec::Lease(1, 30 * kMs, /*reclaim=*/true);

struct KillControl {
  std::atomic<int> stop{0};
  std::atomic<uint64_t> lease_timeouts{0};
};

struct Logs {
  GrantLog sliding{1 << 20};
  GrantLog gcra{1 << 20};
  GrantLog lease{1 << 19};
  GrantLog reclaim{1 << 19};
};

// Takes and releases one lease; the record's end is the expiry until the
// release is about to happen (a holder killed before holds it to expiry).
int LeaseOp(Limiter& lim, GrantLog& log, int id, Rng& rng, KillControl* ctl) {
  StatusOr<Lease> l = lim.AcquireLease(100 * kMs);
  if (!l.ok()) {
    if (l.status().code() != Code::kTimeout) return 5;
    ctl->lease_timeouts.fetch_add(1);
    return 0;
  }
  Grant g;
  g.seen = MonotonicNowNs();
  g.t = l->granted_ns;
  g.end = l->expires_ns;
  g.token = l->token;
  g.worker = id;
  const int64_t idx = log.Append(g);
  const int64_t until = MonotonicNowNs() + int64_t(rng.Below(500)) * 1000;
  while (MonotonicNowNs() < until) {
  }
  // The end is logged BEFORE the release (a worker killed after releasing
  // but before logging would otherwise claim the lease to its expiry): if
  // the release then fails (the lease lapsed first), the expiry is put back.
  const int64_t released = MonotonicNowNs();
  log.SetEnd(idx, std::min(released, l->expires_ns));
  if (!lim.ReleaseLease(*l).ok()) log.SetEnd(idx, l->expires_ns);
  return 0;
}

int KillWorker(int id, const std::string& ns, KillControl* ctl, Logs* logs) {
  StatusOr<Segment> seg = Segment::Open(ns);
  if (!seg.ok()) return 2;
  StatusOr<Limiter> s = seg->Find("s"), g = seg->Find("g"), l = seg->Find("l"), r = seg->Find("r");
  if (!s.ok() || !g.ok() || !l.ok() || !r.ok()) return 3;
  Rng rng(0x4b111u * uint64_t(id + 1));
  while (ctl->stop.load(std::memory_order_relaxed) == 0) {
    const uint64_t op = rng.Below(100);
    if (op < 70) {
      const uint32_t n = 1 + uint32_t(rng.Below(3));
      Limiter& lim = op < 40 ? *s : *g;
      const Decision d = lim.TryAcquire(n);
      if (d.granted) (op < 40 ? logs->sliding : logs->gcra).Append(Grant{d.now_ns, n, 0, 0, id});
    } else if (op < 85) {
      if (int rc = LeaseOp(*l, logs->lease, id, rng, ctl); rc != 0) return rc;
    } else {
      if (int rc = LeaseOp(*r, logs->reclaim, id, rng, ctl); rc != 0) return rc;
    }
  }
  return 0;
}

// Real-time lease intervals [seen, end): sub-intervals of the real holds
// (see hammer_test). A killed holder's unreleased lease ends at its expiry,
// or with reclaim at the kill (the parent's clock read just before kill(),
// which is before the death and so before any reclaim).
std::vector<Grant> RealTime(std::vector<Grant> g, const std::map<int, int64_t>* killed_at) {
  std::vector<Grant> out;
  for (Grant& x : g) {
    if (killed_at) {
      auto it = killed_at->find(x.worker);
      if (it != killed_at->end()) x.end = std::min(x.end, it->second);
    }
    x.t = x.seen;
    if (x.t < x.end) out.push_back(x);
  }
  return out;
}

TEST(KillTest, RandomSigkillsKeepLivenessAndGuarantees) {
  if (kTsan) GTEST_SKIP() << "TSan build: fork + SIGKILL test runs in normal builds";
  const int slots = StressWorkers(8);
  const int min_kills = 100;
  const int64_t min_run = int64_t(StressSeconds(1.0) * kSec);

  testing::ScopedNamespace ns("kill");
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define("s", kSliding).ok());
  ASSERT_TRUE(seg.Define("g", kGcra).ok());
  ASSERT_TRUE(seg.Define("l", kLease).ok());
  ASSERT_TRUE(seg.Define("r", kReclaim).ok());
  Shared<KillControl> ctl;
  Logs* logs = new (MapShared(sizeof(Logs))) Logs();  // logs map their own shared records

  std::vector<pid_t> pid(slots);
  std::vector<int> id(slots);
  int next_id = 0;
  auto spawn = [&](int slot) {
    id[slot] = next_id++;
    const int my = id[slot];
    pid[slot] = ForkChild([&, my] { return KillWorker(my, ns.ns(), &*ctl, logs); });
  };
  for (int i = 0; i < slots; ++i) spawn(i);

  Rng rng(12345);
  std::map<int, int64_t> killed_at;  // worker id -> clock read before kill()
  std::string failures;
  int kills = 0;
  const int64_t start = MonotonicNowNs();
  while (kills < min_kills || MonotonicNowNs() - start < min_run) {
    SleepUntilNs(MonotonicNowNs() + int64_t(1 + rng.Below(6)) * kMs);
    const int slot = int(rng.Below(slots));
    killed_at[id[slot]] = MonotonicNowNs();
    kill(pid[slot], SIGKILL);
    int st = 0;
    ASSERT_TRUE(WaitExit(pid[slot], MonotonicNowNs() + 5 * kSec, &st)) << "SIGKILL did not reap";
    if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
      failures += "worker " + std::to_string(id[slot]) + " exited before its kill (status " +
                  std::to_string(st) + "); ";
    }
    ++kills;
    spawn(slot);
  }
  // Liveness: every survivor stops within the watchdog deadline (a lease
  // wait is bounded by 100 ms, a try never blocks).
  ctl->stop = 1;
  const int64_t stop_at = MonotonicNowNs();
  const int64_t deadline = stop_at + 5 * kSec;
  int64_t last_exit = stop_at;
  int hung = 0;
  for (int i = 0; i < slots; ++i) {
    int st = 0;
    if (!WaitExit(pid[i], deadline, &st)) {
      ++hung;
      kill(pid[i], SIGKILL);
      waitpid(pid[i], &st, 0);
      continue;
    }
    last_exit = MonotonicNowNs();
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
      failures += "survivor " + std::to_string(id[i]) + " failed (status " + std::to_string(st) + "); ";
    }
  }
  const int64_t run_ns = stop_at - start;

  const std::vector<Grant> sliding = logs->sliding.Committed(), gcra = logs->gcra.Committed(),
                           lease = logs->lease.Committed(), reclaim = logs->reclaim.Committed();
  const CheckResult rs = CheckSliding(sliding, kSliding.limit, kSliding.window_ns);
  const CheckResult rg = CheckGcra(gcra, kGcra.rate, kGcra.period_ns, kGcra.burst);
  const CheckResult rl = CheckHolders(RealTime(lease, nullptr), kLease.holders);
  const CheckResult rr = CheckHolders(RealTime(reclaim, &killed_at), kReclaim.holders);
  const CheckResult fl = CheckFencing(lease), fr = CheckFencing(reclaim);
  // Leases whose holder was killed while holding them (end past the kill).
  int killed_holding = 0;
  for (const std::vector<Grant>* v : {&lease, &reclaim}) {
    for (const Grant& x : *v) {
      auto it = killed_at.find(x.worker);
      if (it != killed_at.end() && x.end > it->second) ++killed_holding;
    }
  }
  std::printf("[stress] kill: workers=%d kills=%d killed_holding_a_lease=%d run=%.2fs hung=%d "
              "stop_to_all_exited=%.1fms lease_timeouts=%llu\n",
              slots, kills, killed_holding, run_ns / 1e9, hung, (last_exit - stop_at) / 1e6,
              (unsigned long long)ctl->lease_timeouts.load());
  std::printf("[stress] kill: sliding grants=%llu violations=%llu | gcra grants=%llu violations=%llu "
              "| lease grants=%llu violations=%llu fencing=%llu | reclaim-lease grants=%llu "
              "violations=%llu fencing=%llu\n",
              (unsigned long long)rs.grants, (unsigned long long)rs.violations,
              (unsigned long long)rg.grants, (unsigned long long)rg.violations,
              (unsigned long long)lease.size(), (unsigned long long)rl.violations,
              (unsigned long long)fl.violations, (unsigned long long)reclaim.size(),
              (unsigned long long)rr.violations, (unsigned long long)fr.violations);
  RecordProperty("kills", std::to_string(kills));
  EXPECT_GE(kills, min_kills);
  EXPECT_EQ(hung, 0) << "workers hung after stop";
  EXPECT_EQ(failures, "");
  EXPECT_EQ(rs.violations, 0u) << rs.first_violation;
  EXPECT_EQ(rg.violations, 0u) << rg.first_violation;
  EXPECT_EQ(rl.violations, 0u) << rl.first_violation;
  EXPECT_EQ(rr.violations, 0u) << rr.first_violation;
  EXPECT_EQ(fl.violations, 0u) << fl.first_violation;
  EXPECT_EQ(fr.violations, 0u) << fr.first_violation;
  EXPECT_GT(rs.grants, 0u);
  EXPECT_GT(rg.grants, 0u);
  EXPECT_GT(lease.size(), 0u);
  EXPECT_GT(reclaim.size(), 0u);

  // No corruption: a process attaching now finds every limiter and gets
  // grants within a window / ttl (what killed workers wasted has lapsed).
  StatusOr<Segment> fresh = Segment::Open(ns.ns());
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(fresh->List().size(), 4u);
  for (const char* name : {"s", "g"}) {
    StatusOr<Limiter> lim = fresh->Find(name);
    ASSERT_TRUE(lim.ok()) << name;
    EXPECT_TRUE(testing::WaitFor([&] { return lim->TryAcquire(1).granted; },
                                 std::chrono::milliseconds(1000)))
        << name;
    EXPECT_LE(lim->level().used, lim->level().capacity) << name;
  }
  for (const char* name : {"l", "r"}) {
    StatusOr<Limiter> lim = fresh->Find(name);
    ASSERT_TRUE(lim.ok()) << name;
    StatusOr<Lease> got = lim->AcquireLease(kLease.ttl_ns + 500 * kMs);
    ASSERT_TRUE(got.ok()) << name << ": " << got.status().ToString();
    EXPECT_TRUE(lim->ReleaseLease(*got).ok());
  }
  logs->~Logs();
  UnmapShared(logs, sizeof(Logs));
}

// A holder that is killed while holding the only lease.
struct HolderState {
  std::atomic<int> held{0};
  std::atomic<uint64_t> token{0};
  std::atomic<int64_t> granted_ns{0};
  std::atomic<int64_t> expires_ns{0};
};

pid_t SpawnHolder(const std::string& ns, HolderState* h) {
  return ForkChild([ns, h] {
    StatusOr<Segment> seg = Segment::Open(ns);
    if (!seg.ok()) return 2;
    StatusOr<Limiter> lim = seg->Find("lock");
    if (!lim.ok()) return 3;
    StatusOr<Lease> l = lim->AcquireLease(5 * kSec);
    if (!l.ok()) return 4;
    h->token = l->token;
    h->granted_ns = l->granted_ns;
    h->expires_ns = l->expires_ns;
    h->held.store(1);
    for (;;) SleepUntilNs(MonotonicNowNs() + kSec);  // holds until killed
  });
}

// Kills the holder once it holds the lease; returns the clock read just
// before kill(). `reap` waits for it (a zombie still "exists" for kill(0)).
int64_t KillHolder(pid_t pid, HolderState* h, bool reap) {
  EXPECT_TRUE(testing::WaitFor([&] { return h->held.load() == 1; }, std::chrono::seconds(5)));
  const int64_t t = MonotonicNowNs();
  kill(pid, SIGKILL);
  if (reap) {
    int st = 0;
    EXPECT_TRUE(WaitExit(pid, MonotonicNowNs() + 5 * kSec, &st));
  }
  return t;
}

// Scheduling slack on a loaded 2-core machine for "no later than" bounds.
constexpr int64_t kSlack = 100 * kMs;

TEST(KillTest, KilledHoldersLeaseComesBackByTtl) {
  if (kTsan) GTEST_SKIP() << "TSan build: fork test runs in normal builds";
  const int64_t ttl = 200 * kMs;
  testing::ScopedNamespace ns("kill-ttl");
  Segment seg = ns.Open();
  StatusOr<Limiter> lim = seg.Define("lock", LimiterSpec::Lease(1, ttl, /*reclaim=*/false));
  ASSERT_TRUE(lim.ok());
  for (int round = 0; round < 3; ++round) {
    Shared<HolderState> h;
    const pid_t pid = SpawnHolder(ns.ns(), &*h);
    const int64_t killed = KillHolder(pid, &*h, /*reap=*/true);
    StatusOr<Lease> l = lim->AcquireLease(ttl + 2 * kSec);  // blocks until it lapses
    const int64_t got = MonotonicNowNs();
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    std::printf("[stress] kill-ttl: reclaim=false ttl=%.0fms kill->next grant %.1fms "
                "(holder's expiry was %.1fms after the kill)\n",
                ttl / 1e6, (got - killed) / 1e6, (h->expires_ns - killed) / 1e6);
    EXPECT_GT(l->token, h->token.load());
    // Never early: reclaim=false keeps a dead holder's lease to its expiry.
    EXPECT_GE(l->granted_ns, h->expires_ns.load());
    // No later than ttl after the kill (the waiter sleeps to the expiry).
    EXPECT_LE(got - killed, ttl + kSlack);
    EXPECT_LE(got, h->expires_ns + kSlack);
    ASSERT_TRUE(lim->ReleaseLease(*l).ok());
  }
}

TEST(KillTest, ReclaimGivesADeadHoldersLeaseBackEarly) {
  if (kTsan) GTEST_SKIP() << "TSan build: fork test runs in normal builds";
  const int64_t ttl = 2 * kSec;
  testing::ScopedNamespace ns("kill-reclaim");
  Segment seg = ns.Open();
  StatusOr<Limiter> lim = seg.Define("lock", LimiterSpec::Lease(1, ttl, /*reclaim=*/true));
  ASSERT_TRUE(lim.ok());
  for (int round = 0; round < 3; ++round) {
    Shared<HolderState> h;
    const pid_t pid = SpawnHolder(ns.ns(), &*h);
    // While the holder lives, its lease is not reclaimed.
    ASSERT_TRUE(testing::WaitFor([&] { return h->held.load() == 1; }, std::chrono::seconds(5)));
    EXPECT_FALSE(lim->TryAcquireLeaseAt(MonotonicNowNs()).ok());
    const int64_t killed = KillHolder(pid, &*h, /*reap=*/true);
    StatusOr<Lease> l = lim->AcquireLease(ttl + 2 * kSec);
    const int64_t got = MonotonicNowNs();
    ASSERT_TRUE(l.ok()) << l.status().ToString();
    std::printf("[stress] kill-reclaim: reclaim=true ttl=%.0fms kill->next grant %.3fms\n",
                ttl / 1e6, (got - killed) / 1e6);
    EXPECT_GT(l->token, h->token.load());
    EXPECT_LT(got, h->expires_ns.load()) << "not reclaimed before ttl";
    ASSERT_TRUE(lim->ReleaseLease(*l).ok());
  }
}

// With reclaim=true, a waiter that is ALREADY blocked in AcquireLease when
// the holder dies gets the lease early: reclaim waiters re-check the
// holders every 10 ms (nothing releases a dead holder's lease, so no futex
// wake comes).
TEST(KillTest, BlockedWaiterGetsADeadHoldersLeaseEarly) {
  if (kTsan) GTEST_SKIP() << "TSan build: fork test runs in normal builds";
  const int64_t ttl = 500 * kMs;
  testing::ScopedNamespace ns("kill-waiter");
  Segment seg = ns.Open();
  StatusOr<Limiter> lim = seg.Define("lock", LimiterSpec::Lease(1, ttl, /*reclaim=*/true));
  ASSERT_TRUE(lim.ok());
  Shared<HolderState> h;
  const pid_t pid = SpawnHolder(ns.ns(), &*h);
  ASSERT_TRUE(testing::WaitFor([&] { return h->held.load() == 1; }, std::chrono::seconds(5)));
  std::atomic<int64_t> got{0};
  std::thread waiter([&] {
    StatusOr<Lease> l = lim->AcquireLease(ttl + 2 * kSec);
    if (l.ok()) {
      got = MonotonicNowNs();
      lim->ReleaseLease(*l);
    }
  });
  // Let the waiter block first (it registers as a sleeper).
  testing::WaitFor([&] { return lim->stats().waiting > 0; }, std::chrono::seconds(2));
  const int64_t killed = KillHolder(pid, &*h, /*reap=*/true);
  waiter.join();
  ASSERT_NE(got.load(), 0) << "blocked waiter never got the lease";
  std::printf("[stress] kill-waiter: reclaim=true ttl=%.0fms blocked waiter got it %.1fms after "
              "the kill (holder's expiry: %.1fms after the kill)\n",
              ttl / 1e6, (got - killed) / 1e6, (h->expires_ns - killed) / 1e6);
  EXPECT_LT(got - killed, ttl / 2) << "a blocked reclaim waiter must not sleep to the ttl";
}

}  // namespace
}  // namespace sluice::stress
