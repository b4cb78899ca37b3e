// bench: P processes hammer one limiter for a while; report the achieved
// rate, decision latency and whether the grants kept the guarantee.
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "commands.h"
#include "latency_histogram.h"
#include "sluice/admin/guarantee.h"
#include "sluice/admin/inspect.h"
#include "sluice/duration.h"
#include "sluice/segment.h"

namespace sluicectl {
namespace {

constexpr uint64_t kMaxLogged = uint64_t{1} << 25;  // 256 MiB of grant times

// Shared between the parent and the workers (anonymous MAP_SHARED).
struct Shared {
  std::atomic<uint32_t> ready;
  std::atomic<uint32_t> done;
  std::atomic<int64_t> start_ns;  // 0 until the parent says go
  std::atomic<uint64_t> next;     // grants logged (index into times)
  std::atomic<uint64_t> calls;
  uint64_t capacity;
};

struct Region {
  void* base = MAP_FAILED;
  size_t bytes = 0;
  ~Region() {
    if (base != MAP_FAILED) munmap(base, bytes);
  }
};

[[noreturn]] void Worker(sluice::Limiter lim, Shared* sh, int64_t* times,
                         sluice::LatencyHistogram* hist, uint32_t permits, int64_t duration,
                         uint32_t procs) {
  hist->Clear();
  sh->ready.fetch_add(1);
  int64_t start;
  while ((start = sh->start_ns.load(std::memory_order_acquire)) == 0) sched_yield();
  const int64_t end = start + duration;
  uint64_t calls = 0;
  for (;;) {
    const int64_t t0 = sluice::MonotonicNowNs();
    if (t0 >= end) break;
    const sluice::Decision d = lim.TryAcquire(permits);
    hist->Add(sluice::MonotonicNowNs() - t0);
    ++calls;
    if (d.granted) {
      const uint64_t i = sh->next.fetch_add(permits, std::memory_order_relaxed);
      for (uint64_t k = 0; k < permits && i + k < sh->capacity; ++k) times[i + k] = d.now_ns;
    }
  }
  lim.FlushStats();
  sh->calls.fetch_add(calls);
  // Stay alive until every worker is done, so no lease is reclaimed early.
  sh->done.fetch_add(1);
  const int64_t give_up = sluice::MonotonicNowNs() + sluice::kNanosPerSecond;
  while (sh->done.load() < procs && sluice::MonotonicNowNs() < give_up) sched_yield();
  _exit(0);
}

std::string Rate(double per_s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f/s", per_s);
  return buf;
}

}  // namespace

void AddBench(CLI::App& app, int* exit_code) {
  struct Opts {
    std::string ns, name, duration = "5s";
    uint32_t procs = 4;
    uint32_t permits = 1;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* verb = app.add_subcommand(
      "bench", "load generator: P processes hammer a limiter; check the guarantee");
  verb->add_option("NAME", o->name, "limiter name")->required();
  AddNamespaceOption(verb, &o->ns);
  verb->add_option("-p,--procs", o->procs, "worker processes")
      ->capture_default_str()
      ->check(CLI::Range(1u, 4096u));
  verb->add_option("-d,--duration", o->duration, "how long to run")->capture_default_str();
  verb->add_option("-k,--permits", o->permits, "permits per try_acquire")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 20));
  verb->footer(
      "Each worker calls try_acquire in a loop. Every grant's decision time is logged\n"
      "and checked offline against the limiter's guarantee; exit 1 if any violation.\n"
      "The grants count against the live limiter: bench a test limiter, not production.\n"
      "Examples:\n"
      "  sluicectl bench partner-api --procs 8 --duration 10s\n"
      "  sluicectl bench -n test search -p 64 -d 2s");
  verb->callback([o, exit_code] {
    int64_t duration = 0;
    std::string err;
    if (!ParseDurationArg(o->duration, false, &duration, &err) || duration <= 0) {
      *exit_code = Fail("--duration: " + (err.empty() ? "must be positive" : err));
      return;
    }
    sluice::StatusOr<sluice::Segment> seg = sluice::Segment::Open(o->ns);
    if (!seg.ok()) {
      *exit_code = Fail(seg.status());
      return;
    }
    sluice::StatusOr<sluice::Limiter> lim = seg->Find(o->name);
    if (!lim.ok()) {
      *exit_code = Fail(lim.status());
      return;
    }
    const sluice::LimiterSpec spec = lim->spec();
    const double bound = sluice::MaxGrantsIn(spec, duration + sluice::kNanosPerSecond);
    const uint64_t capacity =
        std::min<uint64_t>(kMaxLogged, static_cast<uint64_t>(bound * 1.5) + 65536);
    Region region;
    region.bytes = sizeof(Shared) + 64 + o->procs * sizeof(sluice::LatencyHistogram) +
                   capacity * sizeof(int64_t);
    region.base = mmap(nullptr, region.bytes, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (region.base == MAP_FAILED) {
      *exit_code = Fail(std::string("mmap: ") + std::strerror(errno));
      return;
    }
    auto* sh = new (region.base) Shared{};
    sh->capacity = capacity;
    auto* hists = reinterpret_cast<sluice::LatencyHistogram*>(static_cast<char*>(region.base) + 64 +
                                                              sizeof(Shared));
    auto* times = reinterpret_cast<int64_t*>(hists + o->procs);
    std::fflush(nullptr);
    std::vector<pid_t> kids;
    for (uint32_t p = 0; p < o->procs; ++p) {
      const pid_t pid = fork();
      if (pid == 0) Worker(*lim, sh, times, &hists[p], o->permits, duration, o->procs);
      if (pid < 0) {
        for (pid_t k : kids) kill(k, SIGKILL);
        for (pid_t k : kids) waitpid(k, nullptr, 0);
        *exit_code = Fail(std::string("fork: ") + std::strerror(errno));
        return;
      }
      kids.push_back(pid);
    }
    while (sh->ready.load() < o->procs) sched_yield();
    sh->start_ns.store(sluice::MonotonicNowNs(), std::memory_order_release);
    bool crashed = false;
    for (pid_t k : kids) {
      int st = 0;
      waitpid(k, &st, 0);
      crashed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    const uint64_t logged = std::min(sh->next.load(), capacity);
    std::sort(times, times + logged);
    const sluice::GuaranteeReport report =
        sluice::CheckGuarantee(spec, std::span<const int64_t>(times, logged));
    sluice::LatencyHistogram all;
    all.Clear();
    for (uint32_t p = 0; p < o->procs; ++p) all.Merge(hists[p]);
    const double secs = double(duration) / 1e9;
    const double allowed = sluice::MaxGrantsIn(spec, duration);
    std::printf("bench %s (%s): %u procs, %s, %u permit(s) per call\n", o->name.c_str(),
                spec.Describe().c_str(), o->procs, sluice::FormatDuration(duration).c_str(),
                o->permits);
    std::printf("  calls      %llu (%s)\n", static_cast<unsigned long long>(sh->calls.load()),
                Rate(double(sh->calls.load()) / secs).c_str());
    std::printf("  granted    %llu permits (%s); configured %s, at most %.0f in this run\n",
                static_cast<unsigned long long>(sh->next.load()),
                Rate(double(sh->next.load()) / secs).c_str(),
                Rate(sluice::SteadyRatePerSecond(spec)).c_str(), allowed);
    std::printf("  achieved   %.1f%% of the allowed maximum\n",
                allowed > 0 ? 100.0 * double(sh->next.load()) / allowed : 0.0);
    std::printf("  latency    p50 %s  p99 %s  p999 %s  max %s\n",
                sluice::FormatDurationShort(all.Quantile(0.5)).c_str(),
                sluice::FormatDurationShort(all.Quantile(0.99)).c_str(),
                sluice::FormatDurationShort(all.Quantile(0.999)).c_str(),
                sluice::FormatDurationShort(all.max_ns).c_str());
    std::printf("  guarantee  %s\n", report.Describe(spec).c_str());
    if (sh->next.load() > capacity) {
      std::printf("  note       grant log overflowed: %llu grants not checked\n",
                  static_cast<unsigned long long>(sh->next.load() - capacity));
    }
    if (crashed) std::printf("  note       a worker process exited abnormally\n");
    *exit_code = report.ok() && !crashed ? kOk : kNotGranted;
  });
}

}  // namespace sluicectl
