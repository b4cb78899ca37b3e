// latency: per-call decision latency (p50/p99/mean) of sluice and each peer,
// one after another in one process, uncontended. Every call is timed with
// two fenced TSC reads; the median cost of an empty pair, measured in the
// same run, is subtracted. mean_ns is the untimed loop's wall time per call.
//
//   --samples N (in-process, default 200000) --net-samples N (default 20000)
//   --redis-port P --zmq-port P (peers skipped when absent)
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "commands.h"
#include "peers.h"

namespace sluice_bench {
namespace {

constexpr int64_t kSecond = 1000000000;

struct Timer {
  double overhead_ticks;
  double ticks_per_ns;
  double Ns(double ticks) const { return std::max(0.0, ticks - overhead_ticks) / ticks_per_ns; }
};

void Measure(const std::string& target, int64_t n, const Timer& t,
             const std::function<bool()>& op) {
  for (int64_t i = 0; i < n / 10; ++i) op();  // warm up
  std::vector<int64_t> d(n);
  int64_t granted = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t a = Ticks();
    granted += op();
    const uint64_t b = Ticks();
    d[i] = int64_t(b - a);
  }
  const int64_t start = NowNs();
  for (int64_t i = 0; i < n; ++i) granted += op();
  const int64_t elapsed = NowNs() - start;
  std::sort(d.begin(), d.end());
  JsonLine()
      .Str("bench", "latency")
      .Str("target", target)
      .Int("n", n)
      .Num("p50_ns", t.Ns(Quantile(d, 0.5, true)))
      .Num("p99_ns", t.Ns(Quantile(d, 0.99, true)))
      .Num("p999_ns", t.Ns(Quantile(d, 0.999, true)))
      .Num("mean_ns", double(elapsed) / double(n))
      .Num("granted_frac", double(granted) / double(2 * n))
      .Num("timer_overhead_ns", t.overhead_ticks / t.ticks_per_ns)
      .Print();
}

}  // namespace

int RunLatency(const Args& a) {
  const int64_t n = a.Int("samples", 200000);
  const int64_t net_n = a.Int("net-samples", 20000);
  const Timer overhead{TimerOverheadTicks(), TicksPerNs()};
  ScratchSegment s("latency");
  // Parameters under which every call takes the grant path (a write).
  sluice::Limiter gcra = s.Define("gcra", sluice::LimiterSpec::Gcra(1000000000, kSecond, 1000000));
  sluice::Limiter window =
      s.Define("window", sluice::LimiterSpec::Window((1u << 24) - 1, kSecond / 1000));
  sluice::Limiter sliding = s.Define("sliding", sluice::LimiterSpec::Sliding(1024, 1000));
  sluice::Limiter lease = s.Define("lease", sluice::LimiterSpec::Lease(64, 1000, false));

  auto* word = static_cast<std::atomic<int64_t>*>(MapShared(4096));
  Measure("floor", n, overhead, [&] { return FloorOp(word) != 0; });
  Measure("sluice-gcra", n, overhead, [&] { return gcra.TryAcquire(1).granted; });
  Measure("sluice-window", n, overhead, [&] { return window.TryAcquire(1).granted; });
  Measure("sluice-sliding", n, overhead, [&] { return sliding.TryAcquire(1).granted; });
  Measure("sluice-lease", n, overhead, [&] { return lease.TryAcquire(1).granted; });
  StdMutexBucket mb(1e9, 1e6);
  Measure("std-mutex-bucket", n, overhead, [&] { return mb.TryAcquire(); });
  RobustMutexBucket* rb = RobustMutexBucket::Create(1e9, 1e6);
  Measure("robust-mutex-bucket", n, overhead, [&] { return rb->TryAcquire(); });
  if (const int port = int(a.Int("redis-port", 0)); port > 0) {
    auto r = RedisGcra::Connect(port, "bench-gcra", 1e6, 1000);
    if (r == nullptr) return 1;
    Measure("redis-lua-gcra", net_n, overhead, [&] { return r->TryAcquire(); });
  }
  if (const int port = int(a.Int("zmq-port", 0)); port > 0) {
    auto z = ZmqWindowClient::Connect(port, "bench-window");
    Measure("zmq-window-server", net_n, overhead, [&] { return z->TryAcquire(); });
  }
  return 0;
}

}  // namespace sluice_bench
