// Guarantee tests: >= 8 workers (forked processes, or threads for
// ThreadSanitizer) hammer one limiter of each algorithm under saturating
// demand with a mix of 1..n-permit requests. Every grant is logged with its
// decision time in shared memory; afterwards the offline checker proves the
// algorithm's guarantee (0 violations) and, for gcra and sliding, that at
// least 99% of what the bound allows was used.
#include <sched.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
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

enum class Kind {
  kGcra,
  kWindow,
  kSliding,
  kLeasePermits,   // try_acquire(n) on a lease limiter: n leases that lapse
  kLeaseTokens1,   // AcquireLease/ReleaseLease, holders = 1
  kLeaseTokens3,   // AcquireLease/ReleaseLease, holders = 3
};

struct Case {
  const char* name;
  Kind kind;
  LimiterSpec spec;
  uint32_t max_permits;
};

// Rates sized so a 1 s run logs 10k-25k grants on 2 cores, and so the bound
// absorbs a scheduling stall shorter than the burst (gcra: 200 permits =
// 10 ms) without losing capacity.
std::vector<Case> Cases() {
  return {
      {"gcra", Kind::kGcra, LimiterSpec::Gcra(20000, kSec, 200), 4},
      {"window", Kind::kWindow, LimiterSpec::Window(500, 20 * kMs), 4},
      {"sliding", Kind::kSliding, LimiterSpec::Sliding(500, 50 * kMs), 4},
      {"lease_permits", Kind::kLeasePermits, LimiterSpec::Lease(8, 5 * kMs, false), 3},
      {"lease_tokens_h1", Kind::kLeaseTokens1, LimiterSpec::Lease(1, 50 * kMs, false), 1},
      {"lease_tokens_h3", Kind::kLeaseTokens3, LimiterSpec::Lease(3, 50 * kMs, false), 1},
  };
}

struct Control {
  std::atomic<int64_t> start_ns{0};
  std::atomic<int64_t> end_ns{0};
  std::atomic<uint64_t> attempts{0};
  std::atomic<uint64_t> timeouts{0};
};

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
    if (c.kind == Kind::kLeaseTokens1 || c.kind == Kind::kLeaseTokens3) {
      StatusOr<Lease> l = lim->AcquireLease(end - now);
      if (!l.ok()) {
        if (l.status().code() != Code::kTimeout) return 4;
        ctl->timeouts.fetch_add(1);
        continue;
      }
      Grant g;
      g.seen = MonotonicNowNs();
      g.t = l->granted_ns;
      g.token = l->token;
      g.end = l->expires_ns;  // until released, held to expiry
      g.worker = i;
      const int64_t idx = log->Append(g);
      Hold(int64_t(rng.Below(20)) * 1000);
      if (rng.Below(8) == 0) sched_yield();
      // Read before the release: <= the real release, so [t, end) is never
      // longer than the time the lease was actually held.
      const int64_t released = MonotonicNowNs();
      if (lim->ReleaseLease(*l).ok()) log->SetEnd(idx, std::min(released, l->expires_ns));
      continue;
    }
    const uint32_t n = rng.Below(10) < 7 ? 1 : 2 + uint32_t(rng.Below(c.max_permits - 1));
    const Decision d = lim->TryAcquire(n);
    if (!d.granted) continue;
    Grant g;
    g.t = d.now_ns;
    g.permits = n;
    g.worker = i;
    // Anonymous lease permits simply lapse ttl after the grant.
    if (c.kind == Kind::kLeasePermits) g.end = d.now_ns + c.spec.ttl_ns;
    log->Append(g);
  }
  ctl->attempts.fetch_add(attempts);
  return 0;
}

class HammerTest : public ::testing::TestWithParam<std::tuple<int, Mode>> {};

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

  CheckResult r;
  CheckResult fencing;
  const LimiterSpec& s = c.spec;
  switch (c.kind) {
    case Kind::kGcra: r = CheckGcra(grants, s.rate, s.period_ns, s.burst); break;
    case Kind::kWindow: r = CheckWindow(grants, s.limit, s.window_ns); break;
    case Kind::kSliding: r = CheckSliding(grants, s.limit, s.window_ns); break;
    case Kind::kLeasePermits: r = CheckHolders(grants, s.holders); break;
    case Kind::kLeaseTokens1:
    case Kind::kLeaseTokens3:
      r = CheckHolders(grants, s.holders);
      fencing = CheckFencing(grants);
      if (c.kind == Kind::kLeaseTokens1) {
        CheckResult order = CheckTokenOrder(grants);
        fencing.violations += order.violations;
        if (fencing.first_violation.empty()) fencing.first_violation = order.first_violation;
      }
      break;
  }
  std::printf("[stress] %s (%s): procs=%d seconds=%.1f attempts=%llu grants=%llu permits=%llu "
              "violations=%llu",
              c.name, ModeName(mode), workers, seconds,
              (unsigned long long)ctl->attempts.load(), (unsigned long long)r.grants,
              (unsigned long long)r.permits, (unsigned long long)r.violations);
  if (r.utilisation >= 0) {
    std::printf(" utilisation=%.2f%% (%.0f of %.0f allowed)", 100 * r.utilisation, r.used, r.allowed);
  }
  if (c.kind == Kind::kLeasePermits || c.kind == Kind::kLeaseTokens1 ||
      c.kind == Kind::kLeaseTokens3) {
    std::printf(" peak_holders=%.0f", r.used);
  }
  if (c.kind == Kind::kLeaseTokens1 || c.kind == Kind::kLeaseTokens3) {
    std::printf(" fencing_violations=%llu timeouts=%llu", (unsigned long long)fencing.violations,
                (unsigned long long)ctl->timeouts.load());
  }
  std::printf("\n");
  RecordProperty("grants", std::to_string(r.grants));
  RecordProperty("violations", std::to_string(r.violations));

  EXPECT_EQ(r.violations, 0u) << r.first_violation;
  EXPECT_EQ(fencing.violations, 0u) << fencing.first_violation;
  // Utilisation is a property of the real clock; sanitizers slow every
  // decision by an order of magnitude, so it is asserted in normal builds.
  if (!kTsan && (c.kind == Kind::kGcra || c.kind == Kind::kSliding)) {
    EXPECT_GE(r.utilisation, 0.99) << "used " << r.used << " of " << r.allowed;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Algorithms, HammerTest,
    ::testing::Combine(::testing::Range(0, int(Cases().size())),
                       ::testing::Values(Mode::kProcesses, Mode::kThreads)),
    [](const ::testing::TestParamInfo<std::tuple<int, Mode>>& p) {
      return std::string(Cases()[std::get<0>(p.param)].name) + "_" +
             ModeName(std::get<1>(p.param));
    });

}  // namespace
}  // namespace sluice::stress
