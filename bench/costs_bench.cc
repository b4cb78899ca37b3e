// Google Benchmark: the costs that must not grow with a limiter's size
// (issue 13), through the C API, next to the floor (one CLOCK_MONOTONIC
// read + one CAS on a MAP_SHARED word) in the same run.
//
//   BM_SlidingDenied/L: try_acquire on a saturated sliding limiter of limit
//     L (window 1 h, so the ring stays full for the whole run).
//   BM_LeasePair/H/P: lease grant + release on holders H with P per mille
//     of them held by others (taken, then a random subset released, so the
//     held entries are scattered over the table).
//   BM_LeaseDenied/H: a lease try on holders H, all of them taken.
//
//   build/bin/sluice_bench_costs [--benchmark_* flags]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "sluice/limiter.h"
#include "sluice/segment.h"
#include "sluice/sluice.h"

namespace {

using sluice::LimiterSpec;
constexpr int64_t kSecond = 1000000000;

struct Fixture {
  std::string ns;
  std::optional<sluice::Segment> seg;
  sluice_segment* cseg = nullptr;
  // Google Benchmark calls a benchmark more than once: set up each once.
  std::map<std::string, sluice_limiter*> ready;
};
Fixture* g = nullptr;

void Die(const std::string& what) {
  fprintf(stderr, "%s\n", what.c_str());
  std::exit(1);
}

sluice_limiter* DefineC(const std::string& name, const LimiterSpec& spec) {
  if (!g->seg->Define(name, spec).ok()) Die("define " + name);
  sluice_limiter* l = nullptr;
  if (sluice_find(g->cseg, name.c_str(), &l) < 0) Die("find " + name);
  return l;
}

void BM_Floor(benchmark::State& state) {
  auto* word = static_cast<std::atomic<int64_t>*>(sluice_bench::MapShared(4096));
  for (auto _ : state) benchmark::DoNotOptimize(sluice_bench::FloorOp(word));
  munmap(word, 4096);
}
BENCHMARK(BM_Floor);

void BM_SlidingDenied(benchmark::State& state) {
  const int64_t limit = state.range(0);
  const std::string name = "sliding-" + std::to_string(limit);
  sluice_limiter*& l = g->ready[name];
  if (l == nullptr) {
    l = DefineC(name, LimiterSpec::Sliding(uint64_t(limit), 3600 * kSecond));
    // Saturate it (in a few large requests: faster than one by one).
    for (int64_t left = limit; left > 0;) {
      const uint32_t n = uint32_t(std::min<int64_t>(left, 4096));
      const int rc = sluice_try_acquire(l, n, nullptr);
      if (rc != 1) Die("could not fill " + name + ": " + sluice_strerror(rc));
      left -= n;
    }
  }
  int64_t retry = 0;
  int64_t granted = 0;
  for (auto _ : state) {
    granted += sluice_try_acquire(l, 1, &retry);
    benchmark::DoNotOptimize(retry);
  }
  if (granted != 0) state.SkipWithError("a saturated limiter granted");
}
BENCHMARK(BM_SlidingDenied)->RangeMultiplier(10)->Range(10, 1000000);

void BM_LeasePair(benchmark::State& state) {
  const int64_t holders = state.range(0);
  const int64_t taken = std::min(holders - 1, holders * state.range(1) / 1000);
  const std::string name = "lease-" + std::to_string(holders) + "-" + std::to_string(taken);
  sluice_limiter*& l = g->ready[name];
  if (l == nullptr) {
    l = DefineC(name, LimiterSpec::Lease(uint64_t(holders), 3600 * kSecond, false));
    std::vector<sluice_lease> all(static_cast<size_t>(holders));
    for (auto& lease : all) {
      if (sluice_lease_acquire(l, 0, &lease) < 0) Die("could not fill " + name);
    }
    std::shuffle(all.begin(), all.end(), std::mt19937_64(uint64_t(holders)));
    for (int64_t i = taken; i < holders; ++i) sluice_lease_release(l, &all[size_t(i)]);
  }
  for (auto _ : state) {
    sluice_lease lease;
    if (sluice_lease_acquire(l, 0, &lease) < 0) state.SkipWithError("lease not granted");
    benchmark::DoNotOptimize(sluice_lease_release(l, &lease));
  }
  state.counters["taken"] = double(taken);
}
BENCHMARK(BM_LeasePair)
    ->ArgsProduct({{1, 16, 256, 4096, 65536}, {0, 500, 999}})
    ->ArgNames({"holders", "permille"});

// A lease try denied: every holder taken (ttl 1 h, nobody releasing).
void BM_LeaseDenied(benchmark::State& state) {
  const int64_t holders = state.range(0);
  const std::string name = "lease-full-" + std::to_string(holders);
  sluice_limiter*& l = g->ready[name];
  if (l == nullptr) {
    l = DefineC(name, LimiterSpec::Lease(uint64_t(holders), 3600 * kSecond, false));
    for (int64_t i = 0; i < holders; ++i) {
      sluice_lease lease;
      if (sluice_lease_acquire(l, 0, &lease) < 0) Die("could not fill " + name);
    }
  }
  int64_t granted = 0;
  for (auto _ : state) {
    sluice_lease lease;
    granted += sluice_lease_acquire(l, 0, &lease) == 1;
  }
  if (granted != 0) state.SkipWithError("a full lease table granted");
}
BENCHMARK(BM_LeaseDenied)->RangeMultiplier(16)->Range(1, 65536);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  g = new Fixture;
  g->ns = sluice_bench::UniqueNamespace("costs");
  sluice::OpenOptions o;
  o.create = true;
  o.arena_bytes = uint64_t{64} << 20;
  auto seg = sluice::Segment::Open(g->ns, o);
  if (!seg.ok()) Die("open: " + seg.status().ToString());
  g->seg.emplace(*seg);
  if (sluice_open(g->ns.c_str(), 0, &g->cseg) < 0) Die("C API open failed");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  sluice_close(g->cseg);
  sluice::Segment::Remove(g->ns);
  delete g;
  return 0;
}
