// lease-waiters: how long blocked lease waiters wait, next to the FIFO
// bound (issue 13). A lease limiter with holders 1 and --ttl-us; --waiters
// processes each loop AcquireLease(-1) and never release, so each lease
// lapses at its ttl and the next waiter takes it. A wait is the time from
// the call to its grant. Served in arrival order, no waiter would wait
// longer than (waiters) x ttl plus the wake-ups; "fifo_bound_us" is
// waiters x ttl.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "bench_util.h"
#include "commands.h"

namespace sluice_bench {

int RunLeaseWaiters(const Args& a) {
  const int waiters = int(a.Int("waiters", 4));
  const int64_t ttl = a.Int("ttl-us", 5000) * 1000;
  const double seconds = a.Num("seconds", 2.0);
  ScratchSegment s("waiters");
  s.Define("lease", sluice::LimiterSpec::Lease(1, ttl, false));
  // Each child logs its waits into its own part of a shared array.
  constexpr int64_t kMaxPerChild = 1 << 16;
  auto* log = static_cast<int64_t*>(
      MapShared(sizeof(int64_t) * size_t(kMaxPerChild + 1) * size_t(waiters)));
  auto* go = static_cast<std::atomic<int64_t>*>(MapShared(4096));
  go->store(0);
  std::vector<pid_t> pids;
  for (int w = 0; w < waiters; ++w) {
    const pid_t pid = fork();
    if (pid == 0) {
      sluice::Limiter l = s.Find("lease");
      int64_t* mine = log + w * (kMaxPerChild + 1);
      int64_t n = 0;
      while (go->load() == 0) {
      }
      const int64_t end = go->load();
      for (int64_t t = NowNs(); t < end && n < kMaxPerChild; t = NowNs()) {
        auto lease = l.AcquireLease(end - t);
        if (!lease.ok()) break;  // the run's end
        mine[1 + n++] = lease->granted_ns - t;
      }
      mine[0] = n;
      _exit(0);
    }
    pids.push_back(pid);
  }
  go->store(NowNs() + int64_t(seconds * 1e9));
  for (pid_t p : pids) waitpid(p, nullptr, 0);
  std::vector<int64_t> waits;
  for (int w = 0; w < waiters; ++w) {
    const int64_t* mine = log + w * (kMaxPerChild + 1);
    waits.insert(waits.end(), mine + 1, mine + 1 + mine[0]);
  }
  std::sort(waits.begin(), waits.end());
  JsonLine()
      .Str("bench", "lease-waiters")
      .Int("waiters", waiters)
      .Int("ttl_ns", ttl)
      .Int("grants", int64_t(waits.size()))
      .Num("p50_ms", Quantile(waits, 0.5, true) / 1e6)
      .Num("p99_ms", Quantile(waits, 0.99, true) / 1e6)
      .Num("max_ms", waits.empty() ? 0 : double(waits.back()) / 1e6)
      .Num("fifo_bound_ms", double(waiters) * double(ttl) / 1e6)
      .Print();
  return 0;
}

}  // namespace sluice_bench
