// accuracy: --procs processes (fork) ask a limiter for permits as fast as
// they can (saturating demand) for --seconds, logging every grant's time;
// the merged log gives the achieved rate and is checked against the
// algorithm's guarantee with sluice::CheckGuarantee (the checker
// `sluicectl bench` and the stress tests use).
//   --algo gcra:    --rate R (per second) --burst B; achieved = (grants -
//                   burst) / elapsed, against R.
//   --algo sliding: --limit L --window-ms W; utilisation = grants / (L *
//                   elapsed / W), the share of what the bound allows.
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "commands.h"
#include "sluice/admin/guarantee.h"

namespace sluice_bench {

int RunAccuracy(const Args& a) {
  const std::string algo = a.Str("algo", "gcra");
  const double seconds = a.Num("seconds", 10);
  const int procs = int(a.Int("procs", 2));
  const int64_t rate = a.Int("rate", 100000);
  const int64_t burst = a.Int("burst", 100);
  const int64_t limit = a.Int("limit", 1000);
  const int64_t window_ns = a.Int("window-ms", 100) * 1000000;
  ScratchSegment s("accuracy");
  const sluice::LimiterSpec spec = algo == "gcra"
                                       ? sluice::LimiterSpec::Gcra(rate, 1000000000, burst)
                                       : sluice::LimiterSpec::Sliding(limit, window_ns);
  s.Define("l", spec);
  const double expect = sluice::MaxGrantsIn(spec, int64_t(seconds * 1e9)) + limit + burst;
  const size_t cap = size_t(expect * 1.05) + 1024;  // per process (one may get nearly all)
  struct Ctl {
    std::atomic<int> ready;
    std::atomic<int64_t> start, end;
  };
  auto* ctl = new (MapShared(sizeof(Ctl))) Ctl();
  auto* log = static_cast<int64_t*>(MapShared(sizeof(int64_t) * (cap + 1) * procs));
  std::vector<pid_t> pids;
  for (int i = 0; i < procs; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      sluice::Limiter l = s.Find("l");
      int64_t* mine = log + i * (cap + 1);
      ctl->ready.fetch_add(1);
      int64_t start;
      while ((start = ctl->start.load()) == 0) std::this_thread::yield();
      while (NowNs() < start) {
      }
      const int64_t end = ctl->end.load();
      size_t n = 0;
      for (;;) {
        const sluice::Decision d = l.TryAcquire(1);
        if (d.now_ns >= end) break;
        if (d.granted && n < cap) mine[1 + n++] = d.now_ns;
      }
      mine[0] = int64_t(n);
      _exit(0);
    }
    pids.push_back(pid);
  }
  while (ctl->ready.load() < procs) std::this_thread::yield();
  const int64_t start = NowNs() + 20000000;
  const int64_t end = start + int64_t(seconds * 1e9);
  ctl->end.store(end);
  ctl->start.store(start);
  for (pid_t p : pids) waitpid(p, nullptr, 0);
  std::vector<int64_t> g;
  for (int i = 0; i < procs; ++i) {
    const int64_t* mine = log + i * (cap + 1);
    g.insert(g.end(), mine + 1, mine + 1 + mine[0]);
  }
  std::sort(g.begin(), g.end());
  const double el = double(end - start);
  const sluice::GuaranteeReport report = sluice::CheckGuarantee(spec, g);
  JsonLine j;
  j.Str("bench", "accuracy")
      .Str("algo", algo)
      .Int("procs", procs)
      .Num("seconds", seconds)
      .Int("grants", int64_t(g.size()))
      .Int("violations", int64_t(report.violations))
      .Num("max_excess", report.max_excess);
  if (algo == "gcra") {
    const double achieved = (double(g.size()) - double(burst)) * 1e9 / el;
    j.Int("rate", rate)
        .Int("burst", burst)
        .Num("achieved_per_s", achieved)
        .Num("error_pct", (achieved - double(rate)) / double(rate) * 100);
  } else {
    const double allowed = sluice::MaxGrantsIn(spec, end - start);
    j.Int("limit", limit)
        .Int("window_ns", window_ns)
        .Num("allowed", allowed)
        .Num("utilisation_pct", double(g.size()) / allowed * 100);
  }
  j.Print();
  return 0;
}

}  // namespace sluice_bench
