// Small measuring helpers shared by the benchmark programs (and meant for
// `sluicectl bench`, which measures the same decision latency): clocks,
// percentiles, a shared anonymous mapping, the "floor" operation, and a
// one-line JSON writer. Header-only; depends on nothing but libc and the
// public sluice API. Not thread-safe unless a function says so.
#ifndef SLUICE_BENCH_BENCH_UTIL_H_
#define SLUICE_BENCH_BENCH_UTIL_H_

#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace sluice_bench {

inline int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Fenced TSC read: cycle-granular timing of one call (the vDSO clock is
// only ~10 ns granular here). Convert with TicksPerNs().
inline uint64_t Ticks() {
  _mm_lfence();
  const uint64_t t = __rdtsc();
  _mm_lfence();
  return t;
}

// TSC ticks per CLOCK_MONOTONIC ns, calibrated over `ms` milliseconds.
inline double TicksPerNs(int ms = 50) {
  const int64_t n0 = NowNs();
  const uint64_t t0 = Ticks();
  timespec ts{0, ms * 1000000L};
  nanosleep(&ts, nullptr);
  const int64_t n1 = NowNs();
  const uint64_t t1 = Ticks();
  return double(t1 - t0) / double(n1 - n0);
}

// The floor of a shared-memory decision: one CLOCK_MONOTONIC read and one
// successful CAS on a word in a MAP_SHARED mapping. Returns the new value.
inline int64_t FloorOp(std::atomic<int64_t>* word) {
  const int64_t now = NowNs();
  int64_t cur = word->load(std::memory_order_relaxed);
  while (!word->compare_exchange_weak(cur, std::max(cur, now) + 1, std::memory_order_relaxed,
                                      std::memory_order_relaxed)) {
  }
  return cur;
}

// `bytes` of zeroed MAP_SHARED anonymous memory (shared with fork children).
// Aborts on failure: benchmarks have no recovery path.
inline void* MapShared(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    std::abort();
  }
  return p;
}

// Sorts `v` and returns its q-quantile (0 <= q <= 1); 0 for an empty vector.
inline double Quantile(std::vector<int64_t>& v, double q, bool sorted = false) {
  if (v.empty()) return 0;
  if (!sorted) std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(q * double(v.size() - 1) + 0.5);
  return double(v[std::min(i, v.size() - 1)]);
}

// Median cost in ticks of an empty Ticks() pair, to subtract from per-call
// samples.
inline double TimerOverheadTicks(int n = 200000) {
  std::vector<int64_t> d(n);
  for (int i = 0; i < n; ++i) {
    const uint64_t a = Ticks();
    const uint64_t b = Ticks();
    d[i] = int64_t(b - a);
  }
  return Quantile(d, 0.5);
}

// Sets this thread's timer slack (prctl PR_SET_TIMERSLACK); 0 restores the
// default. Returns the slack in effect afterwards, in ns.
inline long SetTimerSlackNs(long ns) {
  prctl(PR_SET_TIMERSLACK, ns, 0, 0, 0);
  return prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
}

// A unique namespace for one benchmark run, removed by the caller.
inline std::string UniqueNamespace(const char* what) {
  return std::string("bench-") + what + "-" + std::to_string(getpid()) + "-" +
         std::to_string(NowNs() % 1000000);
}

// Accumulates "key": value pairs and prints them as one JSON object line.
class JsonLine {
 public:
  JsonLine& Str(const std::string& k, const std::string& v) {
    Key(k);
    out_ += "\"" + v + "\"";
    return *this;
  }
  JsonLine& Num(const std::string& k, double v) {
    Key(k);
    char buf[64];
    snprintf(buf, sizeof buf, "%.6g", v);
    out_ += buf;
    return *this;
  }
  JsonLine& Int(const std::string& k, int64_t v) {
    Key(k);
    out_ += std::to_string(v);
    return *this;
  }
  void Print() const {
    printf("{%s}\n", out_.c_str());
    fflush(stdout);
  }

 private:
  void Key(const std::string& k) {
    if (!out_.empty()) out_ += ", ";
    out_ += "\"" + k + "\": ";
  }
  std::string out_;
};

}  // namespace sluice_bench

#endif  // SLUICE_BENCH_BENCH_UTIL_H_
