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

#include "grant_log.h"
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

// Permits asked per second by host `h`, `at` after the start.
double Demand(int h, int64_t at) {
  static const double kPhaseA[kHosts] = {70, 20, 30};  // 0-10 s
  static const double kPhaseB[kHosts] = {20, 70, 30};  // 10-16 s
  static const double kPhaseC[kHosts] = {40, 40, 40};  // 16 s on
  if (at < 10 * kS) return kPhaseA[h];
  if (at < 16 * kS) return kPhaseB[h];
  return kPhaseC[h];
}

// A worker: asks at Demand(h) / kWorkersPerHost per second until the end,
// then writes the time of every grant to `out`.
[[noreturn]] void Worker(const std::string& ns, int h, int64_t start, const std::string& out) {
  std::vector<int64_t> grants;
  fleet::PacedWorker(
      ns, "e2e-api", start + 10 * kS, start + kRunNs,
      [&](int64_t t) { return static_cast<int64_t>(1e9 * kWorkersPerHost / Demand(h, t - start)); },
      [&](int64_t at) { grants.push_back(at); },
      [&] { return fleet::WriteGrantLog(out, grants) ? 0 : 4; });
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
  const int64_t start = MonotonicNowNs();
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
  fleet::SleepUntilNs(start + 16 * kS);
  kill(allotter_pid, SIGKILL);
  waitpid(allotter_pid, nullptr, 0);
  fleet::SleepUntilNs(start + 16 * kS + 500 * kMs);
  allotter_pid = allotter();
  fleet::SleepUntilNs(start + 20 * kS);
  kill(fwd[2], SIGKILL);  // host2's forwarder dies for good
  waitpid(fwd[2], nullptr, 0);
  fleet::SleepUntilNs(start + 22 * kS);
  kill(fwd[0], SIGSTOP);  // host0's forwarder frozen past its 2 s lease
  fleet::SleepUntilNs(start + 25 * kS);
  kill(fwd[0], SIGCONT);
  // Workers end by themselves at kRunNs; wait for them with a deadline.
  for (pid_t p : workers) {
    int st = 0;
    while (waitpid(p, &st, WNOHANG) == 0) {
      ASSERT_LT(MonotonicNowNs(), start + kRunNs + 20 * kS) << "a worker did not finish";
      fleet::SleepUntilNs(MonotonicNowNs() + 10 * kMs);
    }
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "worker status " << st;
  }
  for (pid_t p : {fwd[0], fwd[1], allotter_pid}) {
    kill(p, SIGTERM);
    waitpid(p, nullptr, 0);
  }
  // Offline audit of the merged log.
  const std::vector<int64_t> all = fleet::MergeGrantLogs(logs);
  const fleet::WindowAudit audit = fleet::AuditWindows(all, kWindow, kLimit);
  const size_t over = audit.over, worst = audit.busiest;
  auto used = [&](int64_t a, int64_t b) {
    return fleet::Utilisation(all, start + a, start + b, kWindow, kLimit);
  };
  const double phase_a = used(5 * kS, 10 * kS), phase_b = used(13 * kS, 16 * kS);
  std::printf(
      "fleet e2e: %zu grants; busiest window %zu of %llu; windows over the limit: %zu\n"
      "utilisation: phase A (70/20/30, 5-10 s) %.1f%%, phase B (20/70/30, 13-16 s) %.1f%%, "
      "allotter restart (16-20 s) %.1f%%, forwarder killed and frozen (20-30 s) %.1f%%\n",
      all.size(), worst, static_cast<unsigned long long>(kLimit), over, 100 * phase_a,
      100 * phase_b, 100 * used(16 * kS, 20 * kS), 100 * used(20 * kS, 30 * kS));
  EXPECT_EQ(over, 0u) << "allotter log:\n" << fleet::Slurp(dir + "/allotter.log");
  EXPECT_GE(phase_a, 0.95);
  EXPECT_GE(phase_b, 0.95);
  if (!HasFailure())
    std::filesystem::remove_all(dir);
  else
    std::fprintf(stderr, "logs kept in %s\n", dir.c_str());
}

}  // namespace
}  // namespace sluice
