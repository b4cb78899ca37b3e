// Mutation proof: the stress harness and checker DO catch a lost update.
// A test-only limiter implements gcra / window exactly like lib/src (one
// shared 64-bit word), except that it publishes its decision with a plain
// load ... store instead of a CAS, with sched_yield() between the load and
// the store so that other workers load the same value meanwhile. Hammered
// by the same 8 workers and checked by the same checker, it must show
// violations; the same limiter with the CAS put back must show none (so
// the violations come from the mutation, not from the harness). Both this
// suite's checker (checker.h) and the library's (sluice/guarantee.h) must
// catch it.
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <tuple>

#include "checker.h"
#include "sluice/admin/guarantee.h"
#include "sluice/limiter.h"
#include "sluice/limiter_spec.h"
#include "stress_support.h"

namespace sluice::stress {
namespace {

constexpr int64_t kMs = 1000 * 1000;
constexpr int64_t kSec = 1000 * kMs;

// gcra: rate 20000/s (T = 50 us), burst 20.
constexpr uint64_t kRate = 20000;
constexpr int64_t kCost = kSec / kRate;
constexpr uint64_t kBurst = 20;
// window: 50 per 10 ms.
constexpr uint64_t kLimit = 50;
constexpr int64_t kWindow = 10 * kMs;

struct SharedWords {
  std::atomic<int64_t> tat{INT64_MIN / 4};
  std::atomic<int64_t> window{0};
  std::atomic<int64_t> end_ns{0};
};

// Publishes `next` over `cur`: a CAS (correct) or, mutated, a plain store
// after a yield (the lost-update bug). Returns false if the CAS lost.
bool Publish(std::atomic<int64_t>& word, int64_t& cur, int64_t next, bool broken) {
  sched_yield();  // widen the window between the load and the publish
  if (broken) {
    word.store(next, std::memory_order_relaxed);  // BUG (deliberate): no CAS
    return true;
  }
  return word.compare_exchange_strong(cur, next, std::memory_order_relaxed);
}

// gcra::TryAcquire of lib/src/gcra.cc with a mutable publish step.
bool GcraTry(std::atomic<int64_t>& tat, uint32_t n, int64_t now, bool broken) {
  int64_t cur = tat.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t next = std::max(cur, now) + int64_t(n) * kCost;
    if (next - int64_t(kBurst) * kCost > now) return false;
    if (Publish(tat, cur, next, broken)) return true;
  }
}

// window::TryAcquire of lib/src/window.cc (index << 24 | count), except for
// stale clocks.
bool WindowTry(std::atomic<int64_t>& st, uint32_t n, int64_t now, bool broken) {
  int64_t cur = st.load(std::memory_order_relaxed);
  const int64_t idx = now / kWindow;
  for (;;) {
    int64_t stored = cur >> 24;
    int64_t count = cur & ((1 << 24) - 1);
    if (idx > stored) {
      stored = idx;
      count = 0;
    }
    // Unlike lib/src/window.cc (see core_bugs_test), a stale clock is
    // denied, so each grant counts in the window of its decision time.
    if (idx < stored) return false;
    if (count + n > int64_t(kLimit)) return false;
    if (Publish(st, cur, (stored << 24) | (count + n), broken)) return true;
  }
}

enum class Algo { kGcra, kWindow };

LimiterSpec SpecOf(Algo algo) {
  return algo == Algo::kGcra ? LimiterSpec::Gcra(kRate, kSec, kBurst)
                             : LimiterSpec::Window(kLimit, kWindow);
}

// One round: 8 workers for `ms`; returns the checker's verdict, and the
// library checker's (sluice/guarantee.h) in *lib.
CheckResult Round(Mode mode, Algo algo, bool broken, int64_t ms, std::string* err,
                  GuaranteeReport* lib) {
  Shared<SharedWords> words;
  GrantLog log(1 << 20);
  words->end_ns = MonotonicNowNs() + ms * kMs;
  *err = RunWorkers(
      mode, 8,
      [&](int i) {
        Rng rng(0xbad0000u + uint64_t(i));
        while (MonotonicNowNs() < words->end_ns.load()) {
          const uint32_t n = 1 + uint32_t(rng.Below(3));
          const int64_t now = MonotonicNowNs();
          const bool ok = algo == Algo::kGcra ? GcraTry(words->tat, n, now, broken)
                                              : WindowTry(words->window, n, now, broken);
          if (ok) log.Append(Grant{now, n});
        }
        return 0;
      },
      std::chrono::milliseconds(ms + 30000));
  const std::vector<Grant> g = log.Committed();
  std::vector<int64_t> times;
  for (const Grant& x : g) times.insert(times.end(), x.permits, x.t);
  std::sort(times.begin(), times.end());
  *lib = CheckGuarantee(SpecOf(algo), times);
  return algo == Algo::kGcra ? CheckGcra(g, kRate, kSec, kBurst) : CheckWindow(g, kLimit, kWindow);
}

class MutationTest : public ::testing::TestWithParam<std::tuple<Algo, Mode>> {};

TEST_P(MutationTest, StoreInsteadOfCasIsCaught) {
  const Algo algo = std::get<0>(GetParam());
  const Mode mode = std::get<1>(GetParam());
  if (mode == Mode::kProcesses && kTsan) GTEST_SKIP() << "TSan build: threads only";
  // Lost updates need two workers between load and store at once; with 8
  // workers yielding there they come within milliseconds. Repeat rounds
  // until one is seen, up to a 10 s deadline (never a single lucky shot).
  const int64_t deadline = MonotonicNowNs() + 10 * kSec;
  CheckResult r;
  GuaranteeReport lib;
  int rounds = 0;
  uint64_t grants = 0;
  while (r.violations == 0 && MonotonicNowNs() < deadline) {
    std::string err;
    r = Round(mode, algo, /*broken=*/true, 200, &err, &lib);
    ASSERT_EQ(err, "");
    grants += r.grants;
    ++rounds;
  }
  std::printf(
      "[stress] mutation %s (%s): broken limiter, rounds=%d grants=%llu violations=%llu "
      "guarantee.h_violations=%llu (%s)\n",
      algo == Algo::kGcra ? "gcra" : "window", ModeName(mode), rounds, (unsigned long long)grants,
      (unsigned long long)r.violations, (unsigned long long)lib.violations,
      r.first_violation.c_str());
  EXPECT_GT(r.violations, 0u) << "the checker missed a lost-update limiter";
  EXPECT_GT(lib.violations, 0u) << "sluice::CheckGuarantee missed a lost-update limiter";
}

TEST_P(MutationTest, SameLimiterWithCasPasses) {
  const Algo algo = std::get<0>(GetParam());
  const Mode mode = std::get<1>(GetParam());
  if (mode == Mode::kProcesses && kTsan) GTEST_SKIP() << "TSan build: threads only";
  std::string err;
  GuaranteeReport lib;
  CheckResult r = Round(mode, algo, /*broken=*/false, 300, &err, &lib);
  ASSERT_EQ(err, "");
  std::printf("[stress] mutation control %s (%s): CAS limiter grants=%llu violations=%llu\n",
              algo == Algo::kGcra ? "gcra" : "window", ModeName(mode), (unsigned long long)r.grants,
              (unsigned long long)r.violations);
  EXPECT_GT(r.grants, 0u);
  EXPECT_EQ(r.violations, 0u) << r.first_violation;
  EXPECT_TRUE(lib.ok()) << lib.Describe(SpecOf(algo));
}

INSTANTIATE_TEST_SUITE_P(Broken, MutationTest,
                         ::testing::Combine(::testing::Values(Algo::kGcra, Algo::kWindow),
                                            ::testing::Values(Mode::kProcesses, Mode::kThreads)),
                         [](const ::testing::TestParamInfo<std::tuple<Algo, Mode>>& p) {
                           return std::string(std::get<0>(p.param) == Algo::kGcra ? "gcra"
                                                                                  : "window") +
                                  "_" + ModeName(std::get<1>(p.param));
                         });

}  // namespace
}  // namespace sluice::stress
