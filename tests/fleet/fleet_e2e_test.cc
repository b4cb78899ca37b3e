// End to end on 127.0.0.1: one sluice-allotter, three "hosts" (three
// namespaces, a sluice-forwarder each) and two worker processes per host
// asking at a paced rate and logging every grant with its CLOCK_MONOTONIC
// time (one clock here, so the merged log is exact). The scenario (~30 s):
// demand shifts between hosts, the allotter is killed (-9) and restarted,
// one forwarder is killed, one is frozen (SIGSTOP) past its lease and then
// resumed. Offline: no window of the merged log holds more grants than the
// fleet limit; the utilisation of each steady phase is reported, and must
// reach 95%.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "local_daemons.h"
#include "sluice/segment.h"
#include "support/test_namespace.h"

namespace sluice {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000'000'000;
constexpr uint64_t kLimit = 100;  // per kWindow, fleet-wide
constexpr int64_t kWindow = kS;
constexpr int kHosts = 3;
constexpr int kWorkersPerHost = 2;
constexpr int64_t kRunNs = 30 * kS;

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

// Permits asked per second by host `h`, `at` after the start.
double Demand(int h, int64_t at) {
  static const double kPhaseA[kHosts] = {70, 20, 30};  // 0-10 s
  static const double kPhaseB[kHosts] = {20, 70, 30};  // 10-16 s
  static const double kPhaseC[kHosts] = {40, 40, 40};  // 16 s on
  if (at < 10 * kS) return kPhaseA[h];
  if (at < 16 * kS) return kPhaseB[h];
  return kPhaseC[h];
}

// A worker: attaches (waiting for the forwarder to apply the budget), then
// asks at Demand(h) / kWorkersPerHost per second until the end, writing
// the time of every grant to `out`.
[[noreturn]] void Worker(const std::string& ns, int h, int64_t start, const std::string& out) {
  std::vector<int64_t> grants;
  StatusOr<Limiter> lim = Status(Code::kNotFound, "");
  while (Now() < start + 10 * kS) {
    StatusOr<Segment> seg = Segment::Open(ns);
    if (seg.ok()) {
      lim = seg->Find("e2e-api");
      if (lim.ok()) break;
    }
    SleepUntil(Now() + 10 * kMs);
  }
  if (!lim.ok()) _exit(3);
  int64_t t = Now();
  while (t < start + kRunNs) {
    const Decision d = lim->TryAcquire(1);
    if (d.granted) grants.push_back(d.now_ns);
    t += static_cast<int64_t>(1e9 * kWorkersPerHost / Demand(h, t - start));
    SleepUntil(t);
  }
  FILE* f = std::fopen(out.c_str(), "wb");
  if (!f) _exit(4);
  std::fwrite(grants.data(), sizeof(int64_t), grants.size(), f);
  std::fclose(f);
  _exit(0);
}

std::vector<int64_t> ReadLog(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<int64_t> v;
  int64_t x;
  while (in.read(reinterpret_cast<char*>(&x), sizeof x)) v.push_back(x);
  return v;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(FleetEndToEnd, NeverOverTheLimitThroughShiftsCrashesAndFreezes) {
  const std::string bin = SLUICE_BIN_DIR;
  ASSERT_TRUE(std::filesystem::exists(bin + "/sluice-forwarder"));
  char tmpl[] = "/tmp/sluice-fleet-e2e-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const int port = fleet::FreeLoopbackPort();
  {
    std::ofstream a(dir + "/allotter.toml");
    a << "listen = \"127.0.0.1:" << port << "\"\n"
      << "[resources.e2e-api]\nalgorithm = \"sliding\"\nlimit = " << kLimit
      << "\nwindow = \"1s\"\ndivision = \"fair\"\nlease = \"2s\"\nrefresh = \"250ms\"\n"
      << "reserved = 9\nfallback_for = \"1s\"\n";
  }
  std::vector<testing::ScopedNamespace> spaces;
  for (int h = 0; h < kHosts; ++h) spaces.emplace_back("fleet" + std::to_string(h));
  for (int h = 0; h < kHosts; ++h) {
    std::ofstream b(dir + "/budget" + std::to_string(h) + ".toml");
    b << "namespace = \"" << spaces[h].ns() << "\"\n"
      << "[limiters.e2e-api]\nalgorithm = \"sliding\"\nglobal = true\nwindow = \"1s\"\n"
      << "[allotter]\naddress = \"127.0.0.1:" << port << "\"\n";
  }
  auto allotter = [&] {
    return fleet::SpawnLogged(
        {bin + "/sluice-allotter", "--config", dir + "/allotter.toml", "--insecure"},
        dir + "/allotter.log");
  };
  auto forwarder = [&](int h) {
    return fleet::SpawnLogged(
        {bin + "/sluice-forwarder", "--budget", dir + "/budget" + std::to_string(h) + ".toml",
         "--host-id", "host" + std::to_string(h)},
        dir + "/forwarder" + std::to_string(h) + ".log");
  };
  const int64_t start = Now();
  pid_t allotter_pid = allotter();
  std::vector<pid_t> fwd(kHosts);
  for (int h = 0; h < kHosts; ++h) fwd[h] = forwarder(h);
  std::vector<pid_t> workers;
  std::vector<std::string> logs;
  for (int h = 0; h < kHosts; ++h) {
    for (int w = 0; w < kWorkersPerHost; ++w) {
      logs.push_back(dir + "/grants-" + std::to_string(h) + "-" + std::to_string(w));
      const pid_t pid = fleet::ForkTied();
      if (pid == 0) Worker(spaces[h].ns(), h, start, logs.back());
      workers.push_back(pid);
    }
  }
  // The scenario.
  SleepUntil(start + 16 * kS);
  kill(allotter_pid, SIGKILL);
  waitpid(allotter_pid, nullptr, 0);
  SleepUntil(start + 16 * kS + 500 * kMs);
  allotter_pid = allotter();
  SleepUntil(start + 20 * kS);
  kill(fwd[2], SIGKILL);  // host2's forwarder dies for good
  waitpid(fwd[2], nullptr, 0);
  SleepUntil(start + 22 * kS);
  kill(fwd[0], SIGSTOP);  // host0's forwarder frozen past its 2 s lease
  SleepUntil(start + 25 * kS);
  kill(fwd[0], SIGCONT);
  // Workers end by themselves at kRunNs; wait for them with a deadline.
  for (pid_t p : workers) {
    int st = 0;
    while (waitpid(p, &st, WNOHANG) == 0) {
      ASSERT_LT(Now(), start + kRunNs + 20 * kS) << "a worker did not finish";
      SleepUntil(Now() + 10 * kMs);
    }
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "worker status " << st;
  }
  for (pid_t p : {fwd[0], fwd[1], allotter_pid}) {
    kill(p, SIGTERM);
    waitpid(p, nullptr, 0);
  }
  // Offline audit of the merged log.
  std::vector<int64_t> all;
  for (const std::string& l : logs) {
    const std::vector<int64_t> v = ReadLog(l);
    all.insert(all.end(), v.begin(), v.end());
  }
  std::sort(all.begin(), all.end());
  size_t over = 0, worst = 0;
  for (size_t i = 0, j = 0; i < all.size(); ++i) {
    while (all[i] - all[j] >= kWindow) ++j;  // (all[i] - window, all[i]]
    const size_t n = i - j + 1;
    worst = std::max(worst, n);
    if (n > kLimit) ++over;
  }
  auto used = [&](int64_t a, int64_t b) {
    const auto n = std::lower_bound(all.begin(), all.end(), start + b) -
                   std::lower_bound(all.begin(), all.end(), start + a);
    return static_cast<double>(n) / (static_cast<double>(kLimit) * (b - a) / kWindow);
  };
  const double phase_a = used(5 * kS, 10 * kS), phase_b = used(13 * kS, 16 * kS);
  std::printf(
      "fleet e2e: %zu grants; busiest window %zu of %llu; windows over the limit: %zu\n"
      "utilisation: phase A (70/20/30, 5-10 s) %.1f%%, phase B (20/70/30, 13-16 s) %.1f%%, "
      "allotter restart (16-20 s) %.1f%%, forwarder killed and frozen (20-30 s) %.1f%%\n",
      all.size(), worst, static_cast<unsigned long long>(kLimit), over, 100 * phase_a,
      100 * phase_b, 100 * used(16 * kS, 20 * kS), 100 * used(20 * kS, 30 * kS));
  EXPECT_EQ(over, 0u) << "allotter log:\n" << Slurp(dir + "/allotter.log");
  EXPECT_GE(phase_a, 0.95);
  EXPECT_GE(phase_b, 0.95);
  if (!HasFailure())
    std::filesystem::remove_all(dir);
  else
    std::fprintf(stderr, "logs kept in %s\n", dir.c_str());
}

}  // namespace
}  // namespace sluice
