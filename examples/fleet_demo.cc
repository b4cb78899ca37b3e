// sluice-fleet-demo: one fleet-wide limit ("100 per second") shared by three
// simulated hosts (three namespaces, a sluice-forwarder each, two workers
// each) through one sluice-allotter on 127.0.0.1. Each second it prints every
// host's share and the fleet's rate against the limit while demand shifts;
// at the end it checks the merged grant log: no 1 s interval over 100.
//   build/bin/sluice-fleet-demo [--seconds N]      (default 20)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "local_daemons.h"
#include "sluice/admin/share.h"
#include "sluice/segment.h"

namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000'000'000;
constexpr int kHosts = 3;
constexpr int kWorkers = 2;
constexpr uint64_t kLimit = 100;
constexpr size_t kMaxGrants = 1 << 20;

struct Shared {  // mapped shared by the workers and the parent
  std::atomic<size_t> n;
  int64_t at[kMaxGrants];
};

int64_t Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kS + ts.tv_nsec;
}

void SleepUntil(int64_t t) {
  timespec ts{static_cast<time_t>(t / kS), static_cast<long>(t % kS)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// Permits per second each host asks for, by phase (a third of the run each).
double Demand(int h, int64_t at, int64_t run) {
  static const double kDemand[3][kHosts] = {{70, 20, 30}, {20, 70, 30}, {40, 40, 40}};
  const int phase = static_cast<int>(std::min<int64_t>(2, at * 3 / run));
  return kDemand[phase][h];
}

[[noreturn]] void Worker(const std::string& ns, int h, int64_t start, int64_t run, Shared* log) {
  sluice::StatusOr<sluice::Limiter> lim = sluice::Status(sluice::Code::kNotFound, "");
  while (Now() < start + 10 * kS && !lim.ok()) {
    auto seg = sluice::Segment::Open(ns);
    if (seg.ok()) lim = seg->Find("partner-api");
    if (!lim.ok()) SleepUntil(Now() + 10 * kMs);
  }
  if (!lim.ok()) _exit(3);
  for (int64_t t = Now(); t < start + run;) {
    const sluice::Decision d = lim->TryAcquire(1);
    if (d.granted) {
      const size_t i = log->n.fetch_add(1);
      if (i < kMaxGrants) log->at[i] = d.now_ns;
    }
    t += static_cast<int64_t>(1e9 * kWorkers / Demand(h, t - start, run));
    SleepUntil(t);
  }
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 20;
  if (argc == 3 && !std::strcmp(argv[1], "--seconds")) seconds = std::atoi(argv[2]);
  const int64_t run = static_cast<int64_t>(std::max(seconds, 6)) * kS;
  const std::string bin = std::filesystem::canonical("/proc/self/exe").parent_path().string();
  char tmpl[] = "/tmp/sluice-fleet-demo-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  const std::string dir = tmpl;
  const int port = sluice::fleet::FreeLoopbackPort();
  std::ofstream(dir + "/allotter.toml")
      << "listen = \"127.0.0.1:" << port << "\"\n[resources.partner-api]\n"
      << "algorithm = \"sliding\"\nlimit = " << kLimit << "\nwindow = \"1s\"\n"
      << "division = \"fair\"\nlease = \"2s\"\nrefresh = \"250ms\"\nreserved = 0\n";
  std::vector<std::string> ns;
  for (int h = 0; h < kHosts; ++h) {
    ns.push_back("fleet-demo-" + std::to_string(getpid()) + "-" + std::to_string(h));
    std::ofstream(dir + "/budget" + std::to_string(h) + ".toml")
        << "namespace = \"" << ns[h] << "\"\n[limiters.partner-api]\nalgorithm = \"sliding\"\n"
        << "global = true\nwindow = \"1s\"\n[allotter]\naddress = \"127.0.0.1:" << port << "\"\n";
  }
  auto* log = static_cast<Shared*>(
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (log == MAP_FAILED) return 1;
  std::printf(
      "sluice fleet demo: 3 hosts share %llu per second through sluice-allotter "
      "(127.0.0.1:%d); logs in %s\n",
      static_cast<unsigned long long>(kLimit), port, dir.c_str());
  const int64_t start = Now();
  std::vector<pid_t> daemons;
  daemons.push_back(sluice::fleet::SpawnLogged(
      {bin + "/sluice-allotter", "--config", dir + "/allotter.toml", "--insecure"},
      dir + "/allotter.log"));
  for (int h = 0; h < kHosts; ++h) {
    daemons.push_back(sluice::fleet::SpawnLogged(
        {bin + "/sluice-forwarder", "--budget", dir + "/budget" + std::to_string(h) + ".toml",
         "--host-id", "host" + std::to_string(h)},
        dir + "/forwarder" + std::to_string(h) + ".log"));
  }
  std::vector<pid_t> workers;
  for (int h = 0; h < kHosts; ++h) {
    for (int w = 0; w < kWorkers; ++w) {
      const pid_t p = sluice::fleet::ForkTied();
      if (p == 0) Worker(ns[h], h, start, run, log);
      workers.push_back(p);
    }
  }
  std::printf("  time   demand (host0/1/2)   share host0 host1 host2   fleet rate\n");
  size_t seen = 0;
  for (int64_t t = start + kS; t <= start + run; t += kS) {
    SleepUntil(t);
    std::string shares;
    for (int h = 0; h < kHosts; ++h) {
      char buf[32] = "    -";
      auto seg = sluice::Segment::Open(ns[h]);
      if (seg.ok()) {
        auto f = sluice::admin::ReadFleet(*seg, "partner-api");
        if (f.ok()) {
          std::snprintf(buf, sizeof buf, "%5llu%s", static_cast<unsigned long long>(f->spec.limit),
                        f->stage == sluice::admin::ShareStage::kShare ? " " : "*");
        }
      }
      shares += std::string(" ") + buf;
    }
    const size_t n = std::min(log->n.load(), kMaxGrants);
    std::printf("  %3llds   %3.0f/%3.0f/%3.0f         %s       %4zu / %llu\n",
                static_cast<long long>((t - start) / kS), Demand(0, t - start - 1, run),
                Demand(1, t - start - 1, run), Demand(2, t - start - 1, run), shares.c_str(),
                n - seen, static_cast<unsigned long long>(kLimit));
    std::fflush(stdout);
    seen = n;
  }
  for (pid_t p : workers) waitpid(p, nullptr, 0);
  for (pid_t p : daemons) {
    kill(p, SIGTERM);
    waitpid(p, nullptr, 0);
  }
  std::vector<int64_t> all(log->at, log->at + std::min(log->n.load(), kMaxGrants));
  std::sort(all.begin(), all.end());
  size_t worst = 0, over = 0;
  for (size_t i = 0, j = 0; i < all.size(); ++i) {
    while (all[i] - all[j] >= kS) ++j;
    worst = std::max(worst, i - j + 1);
    if (i - j + 1 > kLimit) ++over;
  }
  for (const std::string& n : ns) sluice::Segment::Remove(n);
  std::printf("audit: %zu grants; busiest 1 s interval %zu of %llu; %s\n", all.size(), worst,
              static_cast<unsigned long long>(kLimit),
              over == 0 ? "the fleet never exceeded its limit" : "LIMIT EXCEEDED");
  std::printf("(* = share lapsed or not yet given; the first seconds are the allotter learning)\n");
  return over == 0 ? 0 : 1;
}
