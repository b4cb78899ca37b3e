// Refreshes answered per second by the allotter library on one core
// (docs/benchmarks.md): 1,000 simulated hosts x 10 resources, each host
// refreshing all ten once per simulated second with shifting demand, past
// learning. No network: this is the decision cost the gRPC shell wraps.
//   sluice_bench_fleet [--hosts N] [--resources N] [--seconds N]
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "allotter.h"

namespace {

int64_t Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sluice::fleet;
  int hosts = 1000, resources = 10, seconds = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--hosts")) hosts = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--resources")) resources = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atoi(argv[i + 1]);
  }
  constexpr int64_t kS = 1'000'000'000;
  AllotterConfig cfg;
  cfg.listen = "127.0.0.1:0";
  for (int r = 0; r < resources; ++r) {
    ResourceConfig rc;
    rc.name = "res" + std::to_string(r);
    rc.spec = sluice::LimiterSpec::Sliding(100'000, kS);
    rc.division = static_cast<Division>(r % 3);
    rc.lease_ns = 5 * kS;
    rc.refresh_ns = kS;
    rc.reserved = 1000;
    rc.fallback_for_ns = 5 * kS;
    cfg.resources.push_back(rc);
  }
  Allotter a(cfg, 1, 0);
  std::mt19937_64 rng(1);
  std::vector<RefreshIn> reqs(static_cast<size_t>(hosts));
  for (int h = 0; h < hosts; ++h) {
    RefreshIn& in = reqs[static_cast<size_t>(h)];
    in.host_id = "host-" + std::to_string(h);
    in.instance = static_cast<uint64_t>(h) + 1;
    for (int r = 0; r < resources; ++r) {
      ResourceIn ri;
      ri.name = cfg.resources[static_cast<size_t>(r)].name;
      ri.algorithm = sluice::Algorithm::kSliding;
      in.resources.push_back(ri);
    }
  }
  // Learning is skipped by starting the simulated clock past it.
  int64_t sim = 20 * kS;
  uint64_t answered = 0;
  uint64_t granted = 0;
  int64_t wall = 0;
  for (int s = 0; s < seconds; ++s) {
    for (int h = 0; h < hosts; ++h) {
      RefreshIn& in = reqs[static_cast<size_t>(h)];
      in.sequence += 1;
      for (ResourceIn& ri : in.resources) {
        ri.demand = static_cast<double>(rng() % 400);
        ri.applied_sequence = in.sequence - 1;
        ri.share_epoch = 1;
      }
      const int64_t at = sim + static_cast<int64_t>(h) * kS / hosts;
      const int64_t t0 = Now();
      sluice::StatusOr<RefreshOut> out = a.Refresh(in, at);
      wall += Now() - t0;
      if (!out.ok()) {
        std::fprintf(stderr, "refresh failed: %s\n", out.status().ToString().c_str());
        return 1;
      }
      answered += out->resources.size();
      for (const ResourceOut& ro : out->resources) granted += ro.amount;
      for (size_t r = 0; r < in.resources.size(); ++r) {
        in.resources[r].in_force = out->resources[r].amount;
        in.resources[r].share_amount = out->resources[r].amount;
      }
    }
    sim += kS;
  }
  const double per_s = static_cast<double>(answered) / (static_cast<double>(wall) / 1e9);
  std::printf(
      "fleet allotter: %d hosts x %d resources, %d refresh rounds: %llu host-resource refreshes "
      "in %.3f s of one core = %.0f per second (%.0f host refreshes/s); mean share %.1f\n",
      hosts, resources, seconds, static_cast<unsigned long long>(answered),
      static_cast<double>(wall) / 1e9, per_s, per_s / resources,
      static_cast<double>(granted) / static_cast<double>(answered));
  return 0;
}
