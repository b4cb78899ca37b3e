// Guarantee tests: >= 8 workers (forked processes, or threads for
// ThreadSanitizer) hammer one limiter of each algorithm under saturating
// demand with a mix of 1..n-permit requests. Every grant is logged with its
// decision time in shared memory; afterwards the offline checker proves the
// algorithm's guarantee (0 violations) and that the limiter used what the
// bound allows (utilisation floors per algorithm), by more than one worker.
// The `_blocking` cases mix in blocking acquires: reservations slept out
// (gcra, sliding), window and lease waits, with random timeouts and
// cancelled waits (whose reservations are refunded); a future-dated grant
// is logged at the grant time the library reports, and a call that
// returned before its own grant time is a failure.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "checker.h"
#include "sluice/admin/guarantee.h"
#include "sluice/limiter.h"
#include "sluice/segment.h"
#include "stress_support.h"
#include "support/test_namespace.h"

namespace sluice::stress {
namespace {

constexpr int64_t kMs = 1000 * 1000;
constexpr int64_t kSec = 1000 * kMs;

enum class Kind {
  kGcra,
  kWindow,
  kSliding,
  kLeasePermits,  // try_acquire(n) on a lease limiter: n leases that lapse
  kLeaseTokens1,  // AcquireLease/ReleaseLease, holders = 1
  kLeaseTokensN,  // AcquireLease/ReleaseLease, holders > 1
};

struct Case {
  const char* name;
  Kind kind;
  LimiterSpec spec;
  uint32_t max_permits;
  bool blocking = false;  // mix blocking acquires (timeouts, cancels) into the demand
};

// Rates sized so a 1 s run logs 10k-25k permits on 2 cores. Utilisation
// tolerates scheduling stalls of all workers (2 shared cores): gcra loses
// capacity only for a stall longer than tau = burst/rate = 50 ms; sliding
// only once one ring word's reuses have drifted by a whole window (100 ms)
// in total.
std::vector<Case> Cases() {
  return {
      {"gcra", Kind::kGcra, LimiterSpec::Gcra(20000, kSec, 1000), 4},
      {"window", Kind::kWindow, LimiterSpec::Window(500, 20 * kMs), 4},
      {"sliding", Kind::kSliding, LimiterSpec::Sliding(1000, 100 * kMs), 4},
      {"lease_permits", Kind::kLeasePermits, LimiterSpec::Lease(8, 5 * kMs, false), 3},
      {"lease_tokens_h1", Kind::kLeaseTokens1, LimiterSpec::Lease(1, 50 * kMs, false), 1},
      {"lease_tokens_h3", Kind::kLeaseTokensN, LimiterSpec::Lease(3, 50 * kMs, false), 1},
      {"gcra_blocking", Kind::kGcra, LimiterSpec::Gcra(20000, kSec, 1000), 4, true},
      {"window_blocking", Kind::kWindow, LimiterSpec::Window(500, 20 * kMs), 4, true},
      {"sliding_blocking", Kind::kSliding, LimiterSpec::Sliding(1000, 100 * kMs), 4, true},
      {"lease_permits_blocking", Kind::kLeasePermits, LimiterSpec::Lease(8, 5 * kMs, false), 3,
       true},
      {"lease_tokens_h1_blocking", Kind::kLeaseTokens1, LimiterSpec::Lease(1, 50 * kMs, false), 1,
       true},
      {"lease_tokens_h2_blocking", Kind::kLeaseTokensN, LimiterSpec::Lease(2, 50 * kMs, false), 1,
       true},
  };
}

struct Control {
  std::atomic<int64_t> start_ns{0};
  std::atomic<int64_t> end_ns{0};
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> timeouts{0};
  BlockingCounters blocking;
};

bool IsLeaseTokens(Kind k) { return k == Kind::kLeaseTokens1 || k == Kind::kLeaseTokensN; }

// Busy-waits about `ns` (holding a lease for a moment, without sleeping).
void Hold(int64_t ns) {
  const int64_t until = MonotonicNowNs() + ns;
  while (MonotonicNowNs() < until) {
  }
}

// The worker: the same function runs as a forked process or as a thread.
// Returns 0, or a small code naming what failed (the parent reports it).
int HammerWorker(int i, const std::string& ns, const Case& c, Control* ctl, GrantLog* log) {
  StatusOr<Segment> seg = Segment::Open(ns);
  if (!seg.ok()) return 2;
  StatusOr<Limiter> lim = seg->Find(c.name);
  if (!lim.ok()) return 3;
  Rng rng(0x5eed0000u + uint64_t(i) * 7919);
  SleepUntilNs(ctl->start_ns.load());
  const int64_t end = ctl->end_ns.load();
  uint64_t attempts = 0;
  for (int64_t now = MonotonicNowNs(); now < end; now = MonotonicNowNs()) {
    ++attempts;
    if (IsLeaseTokens(c.kind)) {
      Grant g;
      Lease lease;
      if (c.blocking) {
        // A try, a short wait, a wait to the end, or one cancelled early.
        const uint64_t op = rng.Below(4);
        const int64_t timeout = op == 0 ? 0 : op == 1 ? int64_t(rng.Below(2 * kMs)) : end - now;
        const int64_t cancel_at = op == 3 ? now + int64_t(rng.Below(2 * kMs)) : 0;
        if (!TimedAcquireLease(*lim, timeout, cancel_at, &g, &lease, &ctl->blocking)) continue;
      } else {
        StatusOr<Lease> l = lim->AcquireLease(end - now);
        if (!l.ok()) {
          if (l.status().code() != Code::kTimeout) return 4;
          ctl->timeouts.fetch_add(1);
          continue;
        }
        lease = *l;
        g.seen = MonotonicNowNs();
        g.t = l->granted_ns;
        g.token = l->token;
        g.end = l->expires_ns;  // until released, held to expiry
      }
      g.worker = i;
      const int64_t idx = log->Append(g);
      Hold(int64_t(rng.Below(20)) * 1000);
      if (rng.Below(8) == 0) sched_yield();
      // Read before the release: <= the real release, so [t, end) is never
      // longer than the time the lease was actually held.
      const int64_t released = MonotonicNowNs();
      log->SetEnd(idx, std::min(released, lease.expires_ns));
      if (!lim->ReleaseLease(lease).ok()) log->SetEnd(idx, lease.expires_ns);  // lapsed first
      continue;
    }
    const uint32_t n = rng.Below(10) < 7 ? 1 : 2 + uint32_t(rng.Below(c.max_permits - 1));
    Grant g;
    const uint64_t op = c.blocking ? rng.Below(4) : 0;
    if (op == 0) {
      const Decision d = lim->TryAcquire(n);
      if (!d.granted) continue;
      g.seen = MonotonicNowNs();
      g.t = d.now_ns;
      g.permits = n;
    } else {
      // Blocking: a timeout of up to 5 ms (never past the end); op 3 is
      // cancelled at a random moment of its wait (or waits forever when
      // not: a reservation at any distance, cancelled at the end).
      const int64_t left = end - now;
      int64_t timeout = std::min<int64_t>(left, int64_t(rng.Below(5 * kMs)));
      int64_t cancel_at = 0;
      if (op == 3) {
        const bool forever = rng.Below(4) == 0;
        cancel_at = forever ? end : now + int64_t(rng.Below(uint64_t(timeout) + 1));
        if (forever) timeout = -1;
      }
      if (!TimedAcquire(*lim, n, timeout, cancel_at, &g, &ctl->blocking)) continue;
    }
    g.worker = i;
    // Anonymous lease permits simply lapse ttl after the grant.
    if (c.kind == Kind::kLeasePermits) g.end = g.t + c.spec.ttl_ns;
    log->Append(g);
  }
  ctl->attempts.fetch_add(attempts);
  return 0;
}

// Sorted grant times, one per permit (the input of sluice::CheckGuarantee).
std::vector<int64_t> PermitTimes(const std::vector<Grant>& grants) {
  std::vector<int64_t> t;
  for (const Grant& g : grants) t.insert(t.end(), g.permits, g.t);
  std::sort(t.begin(), t.end());
  return t;
}

// Utilisation floors (normal builds). gcra and sliding: 99% of the bound
// (see docs/testing.md). With blocking acquires in the mix, a cancelled
// gcra reservation that is no longer the latest cannot be refunded: its
// turn is lost (about 7% of the bound with this mix; measured 92.8%).
// Window: every full window between the first and the last one is filled
// unless all workers stall for a whole window (20 ms): 98-100% alone, 78%
// (threads) beside another stress test under ctest -j2. Leases: the time-
// average of the entries held; anonymous permits lose the time from a
// lapse to the next claim, token leases each hand-over (futex wake-up).
// Measured alone 89-98% (permits) and 78-96% (tokens), 73% (permits) with
// another stress test beside it under ctest -j2 on 2 cores. The lease
// floors catch a limiter that grants far below its holders (one at a time
// is 1/8 or 1/3), not a few percent.
constexpr double kBlockingFloor = 0.85;
constexpr double kWindowFloor = 0.50;
constexpr double kLeasePermitsFloor = 0.50;
constexpr double kLeaseTokensFloor = 0.40;

// A worker's own handle (opened after the fork in process mode); the
// handle keeps the mapping alive.
StatusOr<Limiter> WorkerLimiter(const std::string& ns, const char* name) {
  StatusOr<Segment> s = Segment::Open(ns);
  if (!s.ok()) return s.status();
  return s->Find(name);
}

class HammerTest : public ::testing::TestWithParam<std::tuple<int, Mode>> {};
class FencingTest : public ::testing::TestWithParam<Mode> {};

TEST_P(HammerTest, GuaranteeHoldsUnderSaturation) {
  const Case c = Cases()[std::get<0>(GetParam())];
  const Mode mode = std::get<1>(GetParam());
  if (mode == Mode::kProcesses && kTsan) GTEST_SKIP() << "TSan build: threads only";
  const int workers = StressWorkers(8);
  const double seconds = StressSeconds(1.0);

  testing::ScopedNamespace ns(std::string("hammer-") + c.name);
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define(c.name, c.spec).ok());
  Shared<Control> ctl;
  GrantLog log(size_t(1e6 * std::max(1.0, seconds)));
  const int64_t start = MonotonicNowNs() + 50 * kMs;  // after every worker started
  ctl->start_ns = start;
  ctl->end_ns = start + int64_t(seconds * 1e9);

  const std::string err = RunWorkers(
      mode, workers, [&](int i) { return HammerWorker(i, ns.ns(), c, &*ctl, &log); },
      std::chrono::milliseconds(int64_t(seconds * 1000) + 30000));
  ASSERT_EQ(err, "");
  ASSERT_EQ(log.overflowed(), 0u);
  const std::vector<Grant> grants = log.Committed();
  ASSERT_GT(grants.size(), 0u);

  // `strict`: the contract as written, with the library's own grant times
  // (Decision::now_ns, Lease::granted_ns). For window and leases the tests
  // also assert a real-time form that is sound with logged times (see each
  // case): it found the stale-clock dating bugs of core_bugs_test.cc while
  // the strict form could not tell them from a real overlap.
  CheckResult r;        // asserted
  CheckResult strict;   // the contract with the library's timestamps
  CheckResult fencing;  // asserted (leases)
  const LimiterSpec& s = c.spec;
  // Lease utilisation: the time-average of the entries held (by the
  // library's grant times) over the demanded period, out of `holders`.
  double held_fraction = -1;
  switch (c.kind) {
    case Kind::kGcra: {
      r = strict = CheckGcra(grants, s.rate, s.period_ns, s.burst);
      // Utilisation over the saturated period only: a worker preempted
      // between its `now < end` test and its try can still be granted
      // after the others stopped, which stretches the span without demand.
      std::vector<Grant> saturated;
      for (const Grant& g : grants) {
        if (g.t < ctl->end_ns.load()) saturated.push_back(g);
      }
      const CheckResult u = CheckGcra(saturated, s.rate, s.period_ns, s.burst);
      r.used = u.used;
      r.allowed = u.allowed;
      r.utilisation = u.utilisation;
      break;
    }
    case Kind::kSliding:
      r = strict = CheckSliding(grants, s.limit, s.window_ns);
      break;
    case Kind::kLeasePermits: {
      strict = CheckHolders(grants, s.holders);
      // Real time: each permit was held at least over [seen, t + ttl): the
      // claim happened before `seen`, the entry lapses at >= t + ttl.
      std::vector<Grant> real;
      for (const Grant& g : grants) {
        if (g.seen < g.end) real.push_back(Grant{g.seen, g.permits, g.end});
      }
      r = CheckHolders(real, s.holders);
      r.grants = strict.grants;
      r.permits = strict.permits;
      held_fraction = HeldFraction(grants, s.holders, start, ctl->end_ns.load());
      break;
    }
    case Kind::kWindow: {
      strict = CheckWindow(grants, s.limit, s.window_ns);
      // A grant decided at `t` and returned at `seen` was counted in a
      // window between idx(t) and idx(seen) (the stored window index comes
      // from a clock read before the CAS). When both are the same window it
      // was counted exactly there: those grants alone must fit the limit.
      std::vector<Grant> definite;
      for (const Grant& g : grants) {
        if (g.t / s.window_ns == g.seen / s.window_ns) definite.push_back(g);
      }
      r = CheckWindow(definite, s.limit, s.window_ns);
      r.utilisation = strict.utilisation;
      r.used = strict.used;
      r.allowed = strict.allowed;
      std::printf("[stress] window: %zu of %zu grants dated in their counted window\n",
                  definite.size(), grants.size());
      break;
    }
    case Kind::kLeaseTokens1:
    case Kind::kLeaseTokensN: {
      strict = CheckHolders(grants, s.holders);
      if (c.kind == Kind::kLeaseTokens1) {
        CheckResult order = CheckTokenOrder(grants);
        strict.violations += order.violations;
        if (strict.first_violation.empty()) strict.first_violation = order.first_violation;
      }
      // Real time: the lease was held at least over [seen, end): `seen` is
      // read after AcquireLease returned (after the claim), `end` before
      // ReleaseLease (before the release). Overlaps of these sub-intervals
      // are real overlaps; for holders = 1 they also order the tokens.
      std::vector<Grant> real = grants;
      for (Grant& g : real) g.t = g.seen;
      r = CheckHolders(real, s.holders);
      if (c.kind == Kind::kLeaseTokens1) {
        CheckResult order = CheckTokenOrder(real);
        r.violations += order.violations;
        if (r.first_violation.empty()) r.first_violation = order.first_violation;
      }
      // Happens-before fencing is sound with granted_ns as logged.
      fencing = CheckFencing(grants);
      held_fraction = HeldFraction(grants, s.holders, start, ctl->end_ns.load());
      break;
    }
  }
  std::printf(
      "[stress] %s (%s): procs=%d seconds=%.1f attempts=%llu grants=%llu permits=%llu "
      "violations=%llu",
      c.name, ModeName(mode), workers, seconds, (unsigned long long)ctl->attempts.load(),
      (unsigned long long)r.grants, (unsigned long long)r.permits,
      (unsigned long long)r.violations);
  if (r.utilisation >= 0) {
    std::printf(" utilisation=%.2f%% (%.0f of %.0f allowed)", 100 * r.utilisation, r.used,
                r.allowed);
  }
  if (c.kind == Kind::kLeasePermits || IsLeaseTokens(c.kind)) {
    std::printf(" peak_holders=%.0f held=%.2f%%", r.used, 100 * held_fraction);
  }
  if (c.kind == Kind::kLeaseTokens1 || c.kind == Kind::kLeaseTokensN) {
    std::printf(" fencing_violations=%llu timeouts=%llu", (unsigned long long)fencing.violations,
                (unsigned long long)ctl->timeouts.load());
  }
  if (c.kind == Kind::kWindow || c.kind == Kind::kLeasePermits || c.kind == Kind::kLeaseTokens1 ||
      c.kind == Kind::kLeaseTokensN) {
    std::printf(" strict_violations=%llu", (unsigned long long)strict.violations);
  }
  std::set<int32_t> who;
  for (const Grant& g : grants) who.insert(g.worker);
  std::printf(" workers_granted=%zu\n", who.size());
  const BlockingCounters& b = ctl->blocking;
  if (c.blocking) {
    std::printf(
        "[stress] %s (%s): blocking grants=%llu waited=%llu timeouts=%llu cancelled=%llu "
        "early=%llu errors=%llu\n",
        c.name, ModeName(mode), (unsigned long long)b.grants.load(),
        (unsigned long long)b.waited.load(), (unsigned long long)b.timeouts.load(),
        (unsigned long long)b.cancelled.load(), (unsigned long long)b.early.load(),
        (unsigned long long)b.errors.load());
  }
  RecordProperty("grants", std::to_string(r.grants));
  RecordProperty("violations", std::to_string(r.violations));
  RecordProperty("strict_violations", std::to_string(strict.violations));

  EXPECT_EQ(r.violations, 0u) << r.first_violation;
  EXPECT_EQ(fencing.violations, 0u) << fencing.first_violation;
  EXPECT_EQ(strict.violations, 0u) << strict.first_violation;
  // The library's own checker (sluice/guarantee.h) must agree on the
  // permit-count guarantees.
  if (c.kind != Kind::kLeaseTokens1 && c.kind != Kind::kLeaseTokensN) {
    const GuaranteeReport lib = CheckGuarantee(c.spec, PermitTimes(grants));
    EXPECT_TRUE(lib.ok()) << lib.Describe(c.spec);
  }
  // Utilisation is a property of the real clock; sanitizers slow every
  // decision by an order of magnitude (TSan) or a few times (ASan), so it is
  // asserted in normal builds.
  if (!kTsan && !kAsan) {
    switch (c.kind) {
      case Kind::kGcra:
      case Kind::kSliding:
        EXPECT_GE(r.utilisation, c.blocking && c.kind == Kind::kGcra ? kBlockingFloor : 0.99)
            << "used " << r.used << " of " << r.allowed;
        break;
      case Kind::kWindow:
        EXPECT_GE(r.utilisation, kWindowFloor) << "used " << r.used << " of " << r.allowed;
        break;
      case Kind::kLeasePermits:
        EXPECT_GE(held_fraction, kLeasePermitsFloor);
        break;
      case Kind::kLeaseTokens1:
      case Kind::kLeaseTokensN:
        EXPECT_GE(held_fraction, kLeaseTokensFloor);
        break;
    }
  }
  // Every holder entry was in use at once at some moment (a limiter that
  // granted one lease at a time would pass every "at most" check).
  if (c.kind == Kind::kLeasePermits || IsLeaseTokens(c.kind)) {
    EXPECT_EQ(r.used, double(s.holders)) << "peak holders";
  }
  // The demand came from every side: more than one worker was granted.
  EXPECT_GT(who.size(), 1u) << "only one worker was ever granted";
  if (c.blocking) {
    EXPECT_EQ(b.early.load(), 0u) << "a blocking Acquire returned before its grant time";
    EXPECT_EQ(b.errors.load(), 0u) << "a blocking acquire failed with another status";
    EXPECT_GT(b.grants.load(), 0u);
    EXPECT_GT(b.waited.load(), 0u) << "no blocking acquire ever waited";
    EXPECT_GT(b.cancelled.load(), 0u) << "no wait was ever cancelled";
    EXPECT_GT(b.timeouts.load(), 0u) << "no wait ever timed out";
  }
}

INSTANTIATE_TEST_SUITE_P(Algorithms, HammerTest,
                         ::testing::Combine(::testing::Range(0, int(Cases().size())),
                                            ::testing::Values(Mode::kProcesses, Mode::kThreads)),
                         [](const ::testing::TestParamInfo<std::tuple<int, Mode>>& p) {
                           return std::string(Cases()[std::get<0>(p.param)].name) + "_" +
                                  ModeName(std::get<1>(p.param));
                         });

// Fencing tokens at the highest rate a caller can reach: workers loop
// try-acquire + release on a table that never fills (no hold, no wait), so
// their fetch_adds on the one token counter overlap all the time. Every
// token logged must be unique, and each worker's tokens strictly increase
// (its grants are ordered by its own program order). The hammer cases hold
// their leases for microseconds: a token counter that loses updates rarely
// shows there.
TEST_P(FencingTest, TokensAreUniqueAtFullRate) {
  const Mode mode = GetParam();
  testing::ScopedNamespace ns("fencing-rate");
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define("m", LimiterSpec::Lease(64, kSec, false)).ok());
  const int workers = 4;
  const int per_worker = (kTsan || kAsan) ? 50000 : 200000;
  const size_t bytes = sizeof(uint64_t) * size_t(workers) * size_t(per_worker);
  auto* tokens = static_cast<uint64_t*>(MapShared(bytes));
  const std::string failed = RunWorkers(
      mode, workers,
      [&](int w) {
        StatusOr<Limiter> lim = WorkerLimiter(ns.ns(), "m");
        if (!lim.ok()) return 2;
        for (int i = 0; i < per_worker; ++i) {
          StatusOr<Lease> l = lim->AcquireLease(0);
          if (!l.ok()) {  // 64 holders, at most 4 taken
            std::fprintf(stderr, "worker %d: %s\n", w, l.status().ToString().c_str());
            return 4;
          }
          tokens[size_t(w) * size_t(per_worker) + size_t(i)] = l->token;
          if (!lim->ReleaseLease(*l).ok()) return 5;
        }
        return 0;
      },
      std::chrono::seconds(120));
  ASSERT_EQ(failed, "");
  uint64_t decreasing = 0;
  for (int w = 0; w < workers; ++w) {
    for (int i = 1; i < per_worker; ++i) {
      const size_t k = size_t(w) * size_t(per_worker) + size_t(i);
      if (tokens[k] <= tokens[k - 1]) ++decreasing;
    }
  }
  std::vector<uint64_t> all(tokens, tokens + size_t(workers) * size_t(per_worker));
  UnmapShared(tokens, bytes);
  std::sort(all.begin(), all.end());
  const size_t twice = all.size() - size_t(std::unique(all.begin(), all.end()) - all.begin());
  std::printf(
      "[stress] fencing at full rate (%s): %zu tokens, %zu issued twice, %llu out of order\n",
      ModeName(mode), size_t(workers) * size_t(per_worker), twice, (unsigned long long)decreasing);
  EXPECT_EQ(twice, 0u) << "tokens issued twice";
  EXPECT_EQ(decreasing, 0u) << "a worker's tokens did not increase";
}

// Invariant 3 of lease_table.h at its edge: holders 1 and a 1 us ttl, so
// a claimer is often preempted past its own lease between its claim and
// its token, while others take the lapsed entry. Sorted by token, every
// grant must start at or after the previous one's expiry (one entry: the
// token order is the grant order).
TEST_P(FencingTest, LaterGrantsOfOneEntryGetLargerTokens) {
  const Mode mode = GetParam();
  testing::ScopedNamespace ns("fencing-order");
  Segment seg = ns.Open();
  ASSERT_TRUE(seg.Define("m", LimiterSpec::Lease(1, 1000, false)).ok());
  const int workers = 4;
  const size_t cap = (kTsan || kAsan) ? 100000 : 400000;  // grants per worker, at most
  struct Row {
    uint64_t token;
    int64_t granted;
    int64_t expires;
  };
  const size_t bytes = sizeof(Row) * cap * size_t(workers) + sizeof(uint64_t) * size_t(workers);
  auto* rows = static_cast<Row*>(MapShared(bytes));
  auto* counts = reinterpret_cast<uint64_t*>(rows + cap * size_t(workers));
  const int64_t end = MonotonicNowNs() + int64_t(StressSeconds(2.0) * double(kSec));
  const std::string failed = RunWorkers(
      mode, workers,
      [&](int w) {
        StatusOr<Limiter> lim = WorkerLimiter(ns.ns(), "m");
        if (!lim.ok()) return 2;
        uint64_t n = 0;
        while (n < cap && MonotonicNowNs() < end) {
          StatusOr<Lease> l = lim->AcquireLease(0);
          if (!l.ok()) continue;
          rows[size_t(w) * cap + n++] = {l->token, l->granted_ns, l->expires_ns};
        }
        counts[w] = n;
        return 0;
      },
      std::chrono::seconds(120));
  ASSERT_EQ(failed, "");
  std::vector<Row> all;
  for (int w = 0; w < workers; ++w) {
    all.insert(all.end(), rows + size_t(w) * cap, rows + size_t(w) * cap + counts[w]);
  }
  UnmapShared(rows, bytes);
  std::sort(all.begin(), all.end(), [](const Row& a, const Row& b) { return a.token < b.token; });
  uint64_t violations = 0;
  std::string first;
  for (size_t k = 1; k < all.size(); ++k) {
    if (all[k].granted < all[k - 1].expires) {
      if (violations++ == 0) {
        first = "token " + std::to_string(all[k].token) + " granted at " +
                std::to_string(all[k].granted) + ", before token " +
                std::to_string(all[k - 1].token) + " expired at " +
                std::to_string(all[k - 1].expires);
      }
    }
  }
  std::printf("[stress] token order, holders 1, ttl 1 us (%s): %zu grants, %llu out of order\n",
              ModeName(mode), all.size(), (unsigned long long)violations);
  EXPECT_GT(all.size(), 1000u);
  EXPECT_EQ(violations, 0u) << first;
}

INSTANTIATE_TEST_SUITE_P(Modes, FencingTest, ::testing::Values(Mode::kProcesses, Mode::kThreads),
                         [](const ::testing::TestParamInfo<Mode>& p) {
                           return std::string(ModeName(p.param));
                         });

}  // namespace
}  // namespace sluice::stress
