// contention: P processes (fork) hammer one limiter with try_acquire for
// --seconds; prints aggregate decisions/s for sluice gcra, the robust-mutex
// token bucket and the floor (clock read + CAS on one shared word), for each
// P in --procs, in two regimes:
//   grant:     rate 1e9/s, every decision is a grant (a write): the worst
//              case for a lock-free word, which every process must CAS;
//   saturated: rate 1000/s, nearly every decision is a denial, as when
//              demand exceeds the limit (sluice denies without writing).
//
//   --procs 1,2,4,8 --seconds 1
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "commands.h"
#include "peers.h"

namespace sluice_bench {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr int kMaxProcs = 64;

struct Shared {
  std::atomic<int> ready;
  std::atomic<int> go;
  std::atomic<int> stop;
  alignas(64) int64_t count[kMaxProcs * 8];  // one cache line per child
};

// Forks `procs` children running `make_op()`'s op until told to stop.
// Returns aggregate decisions per second.
double RunProcs(int procs, double seconds, const std::function<std::function<bool()>()>& make_op) {
  auto* sh = new (MapShared(sizeof(Shared))) Shared();
  std::vector<pid_t> pids;
  for (int i = 0; i < procs; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      std::function<bool()> op = make_op();
      sh->ready.fetch_add(1);
      while (!sh->go.load(std::memory_order_acquire)) std::this_thread::yield();
      int64_t n = 0;
      for (;;) {
        for (int k = 0; k < 64; ++k) op();
        n += 64;
        if (sh->stop.load(std::memory_order_relaxed)) break;
      }
      sh->count[i * 8] = n;
      _exit(0);
    }
    pids.push_back(pid);
  }
  while (sh->ready.load() < procs) std::this_thread::yield();
  const int64_t start = NowNs();
  sh->go.store(1, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::nanoseconds(int64_t(seconds * 1e9)));
  sh->stop.store(1);
  const int64_t elapsed = NowNs() - start;
  int64_t total = 0;
  for (int i = 0; i < procs; ++i) {
    waitpid(pids[i], nullptr, 0);
    total += sh->count[i * 8];
  }
  munmap(sh, sizeof(Shared));
  return double(total) * 1e9 / double(elapsed);
}

}  // namespace

int RunContention(const Args& a) {
  const double seconds = a.Num("seconds", 1.0);
  std::vector<int> procs;
  std::stringstream ss(a.Str("procs", "1,2,4,8"));
  for (std::string t; std::getline(ss, t, ',');)
    procs.push_back(std::min(kMaxProcs, atoi(t.c_str())));
  ScratchSegment s("contention");
  s.Define("grant", sluice::LimiterSpec::Gcra(1000000000, kSecond, 1000000));
  s.Define("saturated", sluice::LimiterSpec::Gcra(1000, kSecond, 10));
  RobustMutexBucket* rb_grant = RobustMutexBucket::Create(1e9, 1e6);
  RobustMutexBucket* rb_saturated = RobustMutexBucket::Create(1000, 10);
  auto* word = static_cast<std::atomic<int64_t>*>(MapShared(4096));
  const int cores = int(sysconf(_SC_NPROCESSORS_ONLN));
  for (const char* regime : {"grant", "saturated"}) {
    RobustMutexBucket* rb = std::string(regime) == "grant" ? rb_grant : rb_saturated;
    for (int p : procs) {
      const double sl = RunProcs(p, seconds, [&] {
        auto l = std::make_shared<sluice::Limiter>(s.Find(regime));
        return std::function<bool()>([l] { return l->TryAcquire(1).granted; });
      });
      const double mu = RunProcs(
          p, seconds, [&] { return std::function<bool()>([rb] { return rb->TryAcquire(); }); });
      const double fl = RunProcs(
          p, seconds, [&] { return std::function<bool()>([word] { return FloorOp(word) != 0; }); });
      JsonLine()
          .Str("bench", "contention")
          .Str("regime", regime)
          .Int("procs", p)
          .Int("cores", cores)
          .Num("sluice_per_s", sl)
          .Num("robust_mutex_per_s", mu)
          .Num("floor_per_s", fl)
          .Num("ratio", sl / mu)
          .Print();
    }
  }
  return 0;
}

}  // namespace sluice_bench
