// Fault injection: workers are SIGKILLed at random instructions (>= 100
// kills per run) and respawned while the others keep hammering gcra,
// sliding, window and two lease limiters, with try-acquires and blocking
// acquires (reservations slept out, window and lease waits, random
// timeouts, cancelled waits whose reservations are refunded, anonymous
// lease permits through blocking Acquire(n)). Proves:
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
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <utility>
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
const LimiterSpec kWindow = LimiterSpec::Window(40, 10 * kMs);

constexpr int kMaxWorkerIds = 1 << 14;

struct KillControl {
  std::atomic<int> stop{0};
  // holding[id]: worker `id` holds a lease it logged (set after the log
  // append, cleared after the release); the parent aims half its kills at
  // such workers.
  std::atomic<uint8_t> holding[kMaxWorkerIds];
  BlockingCounters blocking;  // Acquire on s, g, w and l (permits)
  BlockingCounters leases;    // AcquireLease on l and r
};

struct Logs {
  GrantLog sliding{1 << 20};
  GrantLog gcra{1 << 20};
  GrantLog window{1 << 20};
  GrantLog lease{1 << 19};  // leases (token != 0) and anonymous permits (token 0)
  GrantLog reclaim{1 << 19};
};

// Takes and releases one lease; the record's end is the expiry until the
// release is about to happen (a holder killed before holds it to expiry).
// The wait: up to 100 ms, a quarter of them cancelled at a random moment.
int LeaseOp(Limiter& lim, GrantLog& log, int id, Rng& rng, KillControl* ctl) {
  const int64_t now = MonotonicNowNs();
  const int64_t timeout = int64_t(rng.Below(100 * kMs));
  const int64_t cancel_at = rng.Below(4) == 0 ? now + int64_t(rng.Below(20 * kMs)) : 0;
  Grant g;
  Lease lease;
  if (!TimedAcquireLease(lim, timeout, cancel_at, &g, &lease, &ctl->leases)) return 0;
  g.worker = id;
  const int64_t idx = log.Append(g);
  if (id < kMaxWorkerIds) ctl->holding[id].store(1);
  const int64_t until = MonotonicNowNs() + int64_t(rng.Below(500)) * 1000;
  while (MonotonicNowNs() < until) {
  }
  // The end is logged BEFORE the release (a worker killed after releasing
  // but before logging would otherwise claim the lease to its expiry): if
  // the release then fails (the lease lapsed first), the expiry is put back.
  const int64_t released = MonotonicNowNs();
  log.SetEnd(idx, std::min(released, lease.expires_ns));
  if (!lim.ReleaseLease(lease).ok()) log.SetEnd(idx, lease.expires_ns);
  if (id < kMaxWorkerIds) ctl->holding[id].store(0);
  return 0;
}

int KillWorker(int id, const std::string& ns, KillControl* ctl, Logs* logs) {
  StatusOr<Segment> seg = Segment::Open(ns);
  if (!seg.ok()) return 2;
  StatusOr<Limiter> s = seg->Find("s"), g = seg->Find("g"), w = seg->Find("w"), l = seg->Find("l"),
                    r = seg->Find("r");
  if (!s.ok() || !g.ok() || !w.ok() || !l.ok() || !r.ok()) return 3;
  Rng rng(0x4b111u * uint64_t(id + 1));
  while (ctl->stop.load(std::memory_order_relaxed) == 0) {
    const uint64_t op = rng.Below(100);
    if (op < 70) {
      // (lease permits: at most holders = 2, more is kInvalidArgument)
      const uint32_t n = 1 + uint32_t(rng.Below(op < 60 ? 3 : 2));
      Limiter& lim = op < 25 ? *s : op < 45 ? *g : op < 60 ? *w : *l;
      GrantLog& log = op < 25   ? logs->sliding
                      : op < 45 ? logs->gcra
                      : op < 60 ? logs->window
                                : logs->lease;
      Grant x;
      x.worker = id;
      if (op < 60 && rng.Below(2) == 0) {
        const Decision d = lim.TryAcquire(n);
        if (!d.granted) continue;
        x.t = d.now_ns;
        x.seen = MonotonicNowNs();
        x.permits = n;
      } else {
        // Blocking, up to 3 ms; a quarter cancelled at a random moment.
        const int64_t now = MonotonicNowNs();
        const int64_t timeout = int64_t(rng.Below(3 * kMs));
        const int64_t cancel_at = rng.Below(4) == 0 ? now + int64_t(rng.Below(3 * kMs)) : 0;
        if (!TimedAcquire(lim, n, timeout, cancel_at, &x, &ctl->blocking)) continue;
      }
      if (&lim == &*l) x.end = x.t + kLease.ttl_ns;  // anonymous permits lapse
      log.Append(x);
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

// At least this many kills hit a worker while it held a lease, by the log
// (its lease's end lies past the kill). Random kills alone hit 3-9 of 200;
// half the kills are aimed at workers whose holding flag is set, and the
// run goes on (up to 10 s) until 2x this many aimed kills were made.
constexpr int kMinKilledHolding = 10;

TEST(KillTest, RandomSigkillsKeepLivenessAndGuarantees) {
  if (kTsan) GTEST_SKIP() << "TSan build: fork + SIGKILL test runs in normal builds";
  const int slots = StressWorkers(8);
  const int min_kills = 100;
  const int64_t min_run = int64_t(StressSeconds(1.0) * kSec);

  testing::ScopedNamespace ns("kill");
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define("s", kSliding).ok());
  ASSERT_TRUE(seg.Define("g", kGcra).ok());
  ASSERT_TRUE(seg.Define("w", kWindow).ok());
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
  int aimed = 0;  // kills of a worker that had its holding flag set
  while (kills < min_kills || MonotonicNowNs() - start < min_run ||
         (aimed < 2 * kMinKilledHolding && MonotonicNowNs() - start < 10 * kSec)) {
    SleepUntilNs(MonotonicNowNs() + int64_t(1 + rng.Below(6)) * kMs);
    int slot = int(rng.Below(slots));
    if (rng.Below(2) == 0) {  // aim at a worker holding a lease, if any
      for (int k = 0; k < slots; ++k) {
        const int cand = (slot + k) % slots;
        if (id[cand] < kMaxWorkerIds && ctl->holding[id[cand]].load() == 1) {
          slot = cand;
          break;
        }
      }
    }
    if (id[slot] < kMaxWorkerIds && ctl->holding[id[slot]].load() == 1) ++aimed;
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
      failures +=
          "survivor " + std::to_string(id[i]) + " failed (status " + std::to_string(st) + "); ";
    }
  }
  const int64_t run_ns = stop_at - start;

  const std::vector<Grant> sliding = logs->sliding.Committed(), gcra = logs->gcra.Committed(),
                           window = logs->window.Committed(), lease = logs->lease.Committed(),
                           reclaim = logs->reclaim.Committed();
  std::vector<Grant> held, definite;  // leases with a token; window grants dated in their window
  for (const Grant& x : lease) {
    if (x.token != 0) held.push_back(x);
  }
  for (const Grant& x : window) {
    if (x.t / kWindow.window_ns == x.seen / kWindow.window_ns) definite.push_back(x);
  }
  const CheckResult rs = CheckSliding(sliding, kSliding.limit, kSliding.window_ns);
  const CheckResult rg = CheckGcra(gcra, kGcra.rate, kGcra.period_ns, kGcra.burst);
  const CheckResult rw = CheckWindow(window, kWindow.limit, kWindow.window_ns);
  const CheckResult rwd = CheckWindow(definite, kWindow.limit, kWindow.window_ns);
  const CheckResult rl = CheckHolders(RealTime(lease, nullptr), kLease.holders);
  const CheckResult rls = CheckHolders(lease, kLease.holders);
  const CheckResult rr = CheckHolders(RealTime(reclaim, &killed_at), kReclaim.holders);
  const CheckResult fl = CheckFencing(held), fr = CheckFencing(reclaim);
  // Leases whose holder was killed while holding them (end past the kill).
  int killed_holding = 0;
  for (const std::vector<Grant>* v : {&std::as_const(held), &reclaim}) {
    for (const Grant& x : *v) {
      auto it = killed_at.find(x.worker);
      if (it != killed_at.end() && x.end > it->second) ++killed_holding;
    }
  }
  const BlockingCounters &b = ctl->blocking, &bl = ctl->leases;
  std::printf(
      "[stress] kill: workers=%d kills=%d (%d aimed at holders) killed_holding_a_lease=%d "
      "run=%.2fs hung=%d stop_to_all_exited=%.1fms\n",
      slots, kills, aimed, killed_holding, run_ns / 1e9, hung, (last_exit - stop_at) / 1e6);
  std::printf(
      "[stress] kill: blocking acquires: grants=%llu waited=%llu timeouts=%llu "
      "cancelled=%llu early=%llu errors=%llu | leases: grants=%llu waited=%llu "
      "timeouts=%llu cancelled=%llu errors=%llu\n",
      (unsigned long long)b.grants.load(), (unsigned long long)b.waited.load(),
      (unsigned long long)b.timeouts.load(), (unsigned long long)b.cancelled.load(),
      (unsigned long long)b.early.load(), (unsigned long long)b.errors.load(),
      (unsigned long long)bl.grants.load(), (unsigned long long)bl.waited.load(),
      (unsigned long long)bl.timeouts.load(), (unsigned long long)bl.cancelled.load(),
      (unsigned long long)bl.errors.load());
  std::printf(
      "[stress] kill: sliding grants=%llu violations=%llu | gcra grants=%llu violations=%llu "
      "| window grants=%llu violations=%llu/%llu | lease grants=%llu violations=%llu/%llu "
      "fencing=%llu | reclaim-lease grants=%llu violations=%llu fencing=%llu\n",
      (unsigned long long)rs.grants, (unsigned long long)rs.violations,
      (unsigned long long)rg.grants, (unsigned long long)rg.violations,
      (unsigned long long)rw.grants, (unsigned long long)rw.violations,
      (unsigned long long)rwd.violations, (unsigned long long)lease.size(),
      (unsigned long long)rl.violations, (unsigned long long)rls.violations,
      (unsigned long long)fl.violations, (unsigned long long)reclaim.size(),
      (unsigned long long)rr.violations, (unsigned long long)fr.violations);
  RecordProperty("kills", std::to_string(kills));
  EXPECT_GE(kills, min_kills);
  EXPECT_EQ(hung, 0) << "workers hung after stop";
  EXPECT_EQ(failures, "");
  EXPECT_EQ(rs.violations, 0u) << rs.first_violation;
  EXPECT_EQ(rg.violations, 0u) << rg.first_violation;
  EXPECT_EQ(rw.violations, 0u) << rw.first_violation;
  EXPECT_EQ(rwd.violations, 0u) << rwd.first_violation;
  EXPECT_EQ(rl.violations, 0u) << rl.first_violation;
  EXPECT_EQ(rls.violations, 0u) << rls.first_violation;
  EXPECT_EQ(rr.violations, 0u) << rr.first_violation;
  EXPECT_EQ(fl.violations, 0u) << fl.first_violation;
  EXPECT_EQ(fr.violations, 0u) << fr.first_violation;
  EXPECT_GT(rs.grants, 0u);
  EXPECT_GT(rg.grants, 0u);
  EXPECT_GT(rw.grants, 0u);
  EXPECT_GT(held.size(), 0u);
  EXPECT_GT(lease.size(), held.size()) << "no anonymous lease permits";
  EXPECT_GT(reclaim.size(), 0u);
  // The blocking paths ran, waited, were cancelled, and never returned
  // before their grant time or failed otherwise.
  EXPECT_EQ(b.early.load() + bl.early.load(), 0u) << "returned before its grant time";
  EXPECT_EQ(b.errors.load() + bl.errors.load(), 0u);
  EXPECT_GT(b.waited.load(), 0u);
  EXPECT_GT(b.cancelled.load(), 0u);
  EXPECT_GT(bl.waited.load(), 0u);
  EXPECT_GT(bl.cancelled.load(), 0u);
  // Kills hit workers while they held a lease (what the reclaim and the
  // holders checks above are about); see kMinKilledHolding.
  EXPECT_GE(killed_holding, kMinKilledHolding);

  // No corruption: a process attaching now finds every limiter and gets
  // grants within a window / ttl (what killed workers wasted has lapsed).
  StatusOr<Segment> fresh = Segment::Open(ns.ns());
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  EXPECT_EQ(fresh->List().size(), 5u);
  for (const char* name : {"s", "g", "w"}) {
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
    std::printf(
        "[stress] kill-ttl: reclaim=false ttl=%.0fms kill->next grant %.1fms "
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
  const bool blocked =
      testing::WaitFor([&] { return lim->stats().waiting > 0; }, std::chrono::seconds(2));
  const int64_t killed = KillHolder(pid, &*h, /*reap=*/true);
  waiter.join();
  ASSERT_TRUE(blocked) << "the waiter never blocked before the kill";
  ASSERT_NE(got.load(), 0) << "blocked waiter never got the lease";
  std::printf(
      "[stress] kill-waiter: reclaim=true ttl=%.0fms blocked waiter got it %.1fms after "
      "the kill (holder's expiry: %.1fms after the kill)\n",
      ttl / 1e6, (got - killed) / 1e6, (h->expires_ns - killed) / 1e6);
  EXPECT_LT(got - killed, ttl / 2) << "a blocked reclaim waiter must not sleep to the ttl";
}

}  // namespace
}  // namespace sluice::stress
