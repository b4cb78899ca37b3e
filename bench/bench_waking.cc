// Sleeping: how late blocked callers wake, and what blocked callers cost.
//
// waking: one caller loops gcra Acquire(1) at --rate permits/s (burst 1)
//   for --seconds. With burst 1 the reserved grant time of call k is
//   g_k = max(now_k, g_{k-1} + T) (T = ceil(1e9/rate) ns), which the caller
//   computes from the time it called; lateness = return time - g_k, for the
//   calls that had to sleep (g_k in the future).
// handover: a lease limiter (holders 1, --ttl-us); the caller holds a lease
//   and blocks in AcquireLease until that lease lapses; lateness = new
//   grant time - old lease's expires_ns (and return time - expires_ns).
// blocked-cpu: --waiters processes block (gcra Acquire, sliding Acquire,
//   AcquireLease) on exhausted limiters; their CPU time and context switches
//   over --seconds come from /proc/PID/schedstat and /proc/PID/status. A
//   control ("poll": one process polling try_acquire) shows the measure
//   sees CPU use when there is some.
// --slack NS sets the caller's timer slack (prctl); 0 keeps the default.
// waking --raw 1 sleeps to the same schedule with clock_nanosleep alone (no
// limiter): the platform's wake-up lateness, for comparison.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "commands.h"

namespace sluice_bench {
namespace {

constexpr int64_t kSecond = 1000000000;

long ApplySlack(const Args& a) {
  const long slack = long(a.Int("slack", 0));
  return slack > 0 ? SetTimerSlackNs(slack) : SetTimerSlackNs(0);
}

void PrintLateness(const char* bench, JsonLine j, std::vector<int64_t>& late) {
  std::sort(late.begin(), late.end());
  j.Str("bench", bench)
      .Int("wakeups", int64_t(late.size()))
      .Num("p50_us", Quantile(late, 0.5, true) / 1e3)
      .Num("p99_us", Quantile(late, 0.99, true) / 1e3)
      .Num("p999_us", Quantile(late, 0.999, true) / 1e3)
      .Num("max_us", late.empty() ? 0 : double(late.back()) / 1e3)
      .Print();
}

// CPU ns (schedstat) and context switches of `pid`.
void ReadProc(pid_t pid, int64_t* cpu_ns, int64_t* switches) {
  std::ifstream ss("/proc/" + std::to_string(pid) + "/schedstat");
  ss >> *cpu_ns;
  std::ifstream st("/proc/" + std::to_string(pid) + "/status");
  *switches = 0;
  for (std::string line; std::getline(st, line);) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0 ||
        line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
      *switches += atoll(line.c_str() + line.find(':') + 1);
    }
  }
}

}  // namespace

int RunWaking(const Args& a) {
  const int64_t rate = a.Int("rate", 1000);
  const double seconds = a.Num("seconds", 1.0);
  const long slack = ApplySlack(a);
  ScratchSegment s("waking");
  sluice::Limiter l = s.Define("gcra", sluice::LimiterSpec::Gcra(rate, kSecond, 1));
  const int64_t T = (kSecond + rate - 1) / rate;
  std::vector<int64_t> late;
  int64_t calls = 0;
  int64_t prev_grant = INT64_MIN / 2;
  const int64_t start = NowNs();
  const int64_t end = start + int64_t(seconds * 1e9);
  const bool raw = a.Int("raw", 0) != 0;
  for (int64_t now = start; now < end; ++calls) {
    const int64_t grant = std::max(now, prev_grant + T);
    if (raw) {
      // The platform's own floor: the same schedule, clock_nanosleep alone.
      if (grant > now) {
        timespec ts{time_t(grant / kSecond), long(grant % kSecond)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
      }
    } else if (!l.Acquire(1, -1).ok()) {
      return 1;
    }
    const int64_t back = NowNs();
    if (grant > now) late.push_back(back - grant);
    prev_grant = grant;
    now = back;
  }
  const double achieved = double(calls) * 1e9 / double(NowNs() - start);
  PrintLateness("waking",
                JsonLine()
                    .Str("what", raw ? "raw" : "gcra")
                    .Int("rate", rate)
                    .Int("slack_ns", slack)
                    .Int("calls", calls)
                    .Num("achieved_per_s", achieved),
                late);
  return 0;
}

int RunHandover(const Args& a) {
  const int64_t ttl = a.Int("ttl-us", 1000) * 1000;
  const int64_t samples = a.Int("samples", 1000);
  const long slack = ApplySlack(a);
  ScratchSegment s("handover");
  sluice::Limiter l = s.Define("lease", sluice::LimiterSpec::Lease(1, ttl, false));
  auto held = l.AcquireLease(-1);
  if (!held.ok()) return 1;
  std::vector<int64_t> grant_late, return_late;
  for (int64_t i = 0; i < samples; ++i) {
    auto next = l.AcquireLease(-1);  // blocks until `held` lapses
    const int64_t back = NowNs();
    if (!next.ok()) return 1;
    grant_late.push_back(next->granted_ns - held->expires_ns);
    return_late.push_back(back - held->expires_ns);
    held = next;
  }
  PrintLateness("handover",
                JsonLine().Int("ttl_ns", ttl).Int("slack_ns", slack).Str("measure", "grant"),
                grant_late);
  PrintLateness("handover",
                JsonLine().Int("ttl_ns", ttl).Int("slack_ns", slack).Str("measure", "return"),
                return_late);
  return 0;
}

int RunBlockedCpu(const Args& a) {
  const int waiters = int(a.Int("waiters", 8));
  const double seconds = a.Num("seconds", 1.0);
  ScratchSegment s("blocked");
  sluice::Limiter gcra = s.Define("gcra", sluice::LimiterSpec::Gcra(1, 3600 * kSecond, 1));
  sluice::Limiter sliding = s.Define("sliding", sluice::LimiterSpec::Sliding(1, 3600 * kSecond));
  sluice::Limiter lease = s.Define("lease", sluice::LimiterSpec::Lease(1, 3600 * kSecond, false));
  gcra.TryAcquire(1);
  sliding.TryAcquire(1);
  auto held = lease.AcquireLease(0);
  if (!held.ok()) return 1;
  // "poll" is the control: one caller polling try_acquire in a loop, as a
  // client without a blocking acquire would; it shows what spinning costs.
  for (const char* kind : {"gcra", "sliding", "lease", "poll"}) {
    const std::string k = kind;
    std::vector<pid_t> pids;
    for (int i = 0; i < (k == "poll" ? 1 : waiters); ++i) {
      const pid_t pid = fork();
      if (pid == 0) {
        sluice::Limiter l = s.Find(k == "poll" ? "gcra" : kind);
        if (k == "lease")
          (void)l.AcquireLease(-1);
        else if (k == "poll")
          while (!l.TryAcquire(1).granted) {
          }
        else
          (void)l.Acquire(1, -1);
        _exit(0);
      }
      pids.push_back(pid);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let them block
    int64_t cpu0 = 0, sw0 = 0, cpu1 = 0, sw1 = 0;
    for (pid_t p : pids) {
      int64_t c, w;
      ReadProc(p, &c, &w);
      cpu0 += c;
      sw0 += w;
    }
    const int64_t t0 = NowNs();
    std::this_thread::sleep_for(std::chrono::nanoseconds(int64_t(seconds * 1e9)));
    for (pid_t p : pids) {
      int64_t c, w;
      ReadProc(p, &c, &w);
      cpu1 += c;
      sw1 += w;
    }
    const double el = double(NowNs() - t0) / 1e9;
    for (pid_t p : pids) kill(p, SIGKILL);
    for (pid_t p : pids) waitpid(p, nullptr, 0);
    JsonLine()
        .Str("bench", "blocked-cpu")
        .Str("kind", kind)
        .Int("waiters", int64_t(pids.size()))
        .Num("cpu_us_per_s", double(cpu1 - cpu0) / 1e3 / el)
        .Num("switches_per_s", double(sw1 - sw0) / el)
        .Print();
  }
  return 0;
}

}  // namespace sluice_bench
