// Google Benchmark micro-benchmarks: the uncontended cost of one decision
// per algorithm, next to the floor (one CLOCK_MONOTONIC read + one CAS on a
// MAP_SHARED word) and the in-process peers, in the same run.
//
//   build/bin/sluice_bench_micro [--benchmark_* flags]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <optional>
#include <string>

#include "bench_util.h"
#include "gcra.h"  // internal: attribution of the decision cost
#include "peers.h"
#include "sluice/admin/share.h"
#include "sluice/limiter.h"
#include "sluice/segment.h"
#include "sluice/sluice.h"

namespace {

using sluice::LimiterSpec;
using sluice_bench::NowNs;

constexpr int64_t kSecond = 1000000000;

struct Fixture {
  std::string ns;
  std::optional<sluice::Segment> seg;
  sluice::Limiter gcra, gcra_denied, window, sliding, lease_try, lease_pair, gcra_global;
  sluice_segment* cseg = nullptr;
  sluice_limiter* cgcra = nullptr;
};
Fixture* g = nullptr;

sluice::Limiter Define(const char* name, const LimiterSpec& spec) {
  auto l = g->seg->Define(name, spec);
  if (!l.ok()) {
    fprintf(stderr, "define %s: %s\n", name, l.status().ToString().c_str());
    std::exit(1);
  }
  return *l;
}

void Setup() {
  g = new Fixture;
  g->ns = sluice_bench::UniqueNamespace("micro");
  sluice::OpenOptions o;
  o.create = true;
  auto seg = sluice::Segment::Open(g->ns, o);
  if (!seg.ok()) {
    fprintf(stderr, "open: %s\n", seg.status().ToString().c_str());
    std::exit(1);
  }
  g->seg.emplace(*seg);
  // Parameters chosen so that every call takes the grant path (a CAS).
  g->gcra = Define("gcra", LimiterSpec::Gcra(1000000000, kSecond, 1000000));
  g->gcra_denied = Define("gcra-denied", LimiterSpec::Gcra(1, 3600 * kSecond, 1));
  g->gcra_denied.TryAcquire(1);
  g->window = Define("window", LimiterSpec::Window((1u << 24) - 1, kSecond / 1000));
  g->sliding = Define("sliding", LimiterSpec::Sliding(1024, 1000));
  g->lease_try = Define("lease-try", LimiterSpec::Lease(64, 1000, false));
  g->lease_pair = Define("lease-pair", LimiterSpec::Lease(1, kSecond, false));
  // A fleet limiter with its share in force (leased for an hour): the
  // decision checks the share's end on top of what gcra does.
  LimiterSpec global = LimiterSpec::Gcra(0, kSecond, 0);
  global.global = true;
  g->gcra_global = Define("gcra-global", global);
  sluice::admin::Share share;
  share.amount = 1000000000;
  share.burst = 1000000;
  share.expires_ns = NowNs() + 3600 * kSecond;
  if (!sluice::admin::PublishShare(*g->seg, "gcra-global", share).ok()) {
    fprintf(stderr, "share for gcra-global failed\n");
    std::exit(1);
  }
  if (sluice_open(g->ns.c_str(), 0, &g->cseg) < 0 || sluice_find(g->cseg, "gcra", &g->cgcra) < 0) {
    fprintf(stderr, "C API open/find failed\n");
    std::exit(1);
  }
}

void Teardown() {
  sluice_close(g->cseg);
  sluice::Segment::Remove(g->ns);
  delete g;
}

void BM_Clock(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(NowNs());
}
BENCHMARK(BM_Clock);

void BM_Floor(benchmark::State& state) {
  auto* word = static_cast<std::atomic<int64_t>*>(sluice_bench::MapShared(4096));
  for (auto _ : state) benchmark::DoNotOptimize(sluice_bench::FloorOp(word));
  munmap(word, 4096);
}
BENCHMARK(BM_Floor);

void RunLimiter(benchmark::State& state, sluice::Limiter& l) {
  int64_t granted = 0;
  for (auto _ : state) {
    sluice::Decision d = l.TryAcquire(1);
    granted += d.granted;
    benchmark::DoNotOptimize(d);
  }
  state.counters["granted"] = benchmark::Counter(double(granted) / double(state.iterations()));
}

void BM_Gcra(benchmark::State& state) { RunLimiter(state, g->gcra); }
BENCHMARK(BM_Gcra);
void BM_GcraGlobal(benchmark::State& state) { RunLimiter(state, g->gcra_global); }
BENCHMARK(BM_GcraGlobal);
void BM_GcraDenied(benchmark::State& state) { RunLimiter(state, g->gcra_denied); }
BENCHMARK(BM_GcraDenied);
void BM_Window(benchmark::State& state) { RunLimiter(state, g->window); }
BENCHMARK(BM_Window);
void BM_Sliding(benchmark::State& state) { RunLimiter(state, g->sliding); }
BENCHMARK(BM_Sliding);
void BM_LeaseTry(benchmark::State& state) { RunLimiter(state, g->lease_try); }
BENCHMARK(BM_LeaseTry);

// Attribution of BM_Gcra's cost above the floor: the algorithm alone
// (gcra::TryAcquire from lib/src, an out-of-line call returning Decision in
// memory), and the same algorithm inlined here (what the handle could cost
// with no layers in between).
void BM_GcraCore(benchmark::State& state) {
  auto* word = static_cast<std::atomic<int64_t>*>(sluice_bench::MapShared(4096));
  word->store(sluice::gcra::kInitialTat);
  const sluice::gcra::Params p = sluice::gcra::MakeParams(1000000000, kSecond, 1000000);
  for (auto _ : state) benchmark::DoNotOptimize(sluice::gcra::TryAcquire(*word, p, 1, NowNs()));
  munmap(word, 4096);
}
BENCHMARK(BM_GcraCore);

inline bool InlineGcra(std::atomic<int64_t>& tat, int64_t cost, int64_t tau, int64_t now) {
  int64_t cur = tat.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t next = std::max(cur, now) + cost;
    if (next - tau > now) return false;
    if (tat.compare_exchange_weak(cur, next, std::memory_order_relaxed)) return true;
  }
}

void BM_GcraInlineReplica(benchmark::State& state) {
  auto* word = static_cast<std::atomic<int64_t>*>(sluice_bench::MapShared(4096));
  word->store(sluice::gcra::kInitialTat);
  for (auto _ : state) benchmark::DoNotOptimize(InlineGcra(*word, 1, 1000000, NowNs()));
  munmap(word, 4096);
}
BENCHMARK(BM_GcraInlineReplica);

// A denied sliding decision scans the ring: cost grows with `limit`.
void BM_SlidingDenied(benchmark::State& state) {
  const std::string name = "sliding-denied-" + std::to_string(state.range(0));
  sluice::Limiter l = Define(name.c_str(), LimiterSpec::Sliding(state.range(0), 3600 * kSecond));
  while (l.TryAcquire(1).granted) {
  }
  RunLimiter(state, l);
}
BENCHMARK(BM_SlidingDenied)->Arg(8)->Arg(100)->Arg(1000);

// Lease as a lock: grant + release (two decisions, two clock reads).
void BM_LeasePair(benchmark::State& state) {
  for (auto _ : state) {
    auto lease = g->lease_pair.TryAcquireLeaseAt(sluice::MonotonicNowNs());
    if (!lease.ok()) state.SkipWithError("lease not granted");
    benchmark::DoNotOptimize(g->lease_pair.ReleaseLease(*lease));
  }
}
BENCHMARK(BM_LeasePair);

void BM_CApiGcra(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(sluice_try_acquire(g->cgcra, 1, nullptr));
}
BENCHMARK(BM_CApiGcra);

void BM_StdMutexBucket(benchmark::State& state) {
  sluice_bench::StdMutexBucket b(1e9, 1e6);
  for (auto _ : state) benchmark::DoNotOptimize(b.TryAcquire());
}
BENCHMARK(BM_StdMutexBucket);

void BM_RobustMutexBucket(benchmark::State& state) {
  auto* b = sluice_bench::RobustMutexBucket::Create(1e9, 1e6);
  for (auto _ : state) benchmark::DoNotOptimize(b->TryAcquire());
}
BENCHMARK(BM_RobustMutexBucket);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  Setup();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  Teardown();
  return 0;
}
