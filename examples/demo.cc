// sluice-demo: four worker processes share one host-wide budget of
// "5 requests per 800 ms" (a partner API's hard limit) through the shared
// memory segment. Each prints its grants; the parent then checks that no
// 800 ms interval ever held more than 5 grants.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <vector>

#include "sluice/duration.h"
#include "sluice/segment.h"

namespace {

constexpr int kWorkers = 4;
constexpr int kLimit = 5;
constexpr int64_t kWindow = 800 * sluice::kNanosPerMilli;
constexpr int64_t kRun = 2400 * sluice::kNanosPerMilli;

struct Log {
  std::atomic<int> n;
  int64_t at[4096];
};

void Worker(int id, const std::string& ns, Log* log, int64_t start) {
  auto seg = sluice::Segment::Open(ns);
  auto api = seg->Find("partner-api");
  int mine = 0;
  while (sluice::MonotonicNowNs() - start < kRun) {
    // Blocks (sleeping, not spinning) until this worker's turn comes.
    // t: the grant's time, which the guarantee counts; the call returns a
    // few microseconds after it.
    int64_t t = 0;
    if (!api->Acquire(1, kRun, {}, &t).ok()) break;
    if (t - start >= kRun) break;
    log->at[log->n.fetch_add(1)] = t;
    std::printf("  %7.1f ms  worker %d  request #%d\n", (t - start) / 1e6, id, ++mine);
    std::fflush(stdout);
  }
  _exit(0);
}

}  // namespace

int main() {
  const std::string ns = "demo" + std::to_string(getpid());
  sluice::OpenOptions o;
  o.create = true;
  auto seg = sluice::Segment::Open(ns, o);
  if (!seg.ok())
    return std::fprintf(stderr, "sluice-demo: %s\n", seg.status().ToString().c_str()), 2;
  auto api = seg->Define("partner-api", sluice::LimiterSpec::Sliding(kLimit, kWindow));
  if (!api.ok())
    return std::fprintf(stderr, "sluice-demo: %s\n", api.status().ToString().c_str()), 2;
  std::printf("%d processes share \"partner-api\" (%s) in /dev/shm/sluice.%s for %.1f s:\n",
              kWorkers, api->spec().Describe().c_str(), ns.c_str(), kRun / 1e9);
  auto* log = static_cast<Log*>(
      mmap(nullptr, sizeof(Log), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  std::fflush(stdout);
  const int64_t start = sluice::MonotonicNowNs();
  for (int i = 0; i < kWorkers; ++i) {
    if (fork() == 0) Worker(i + 1, ns, log, start);
  }
  while (wait(nullptr) > 0) {
  }
  std::vector<int64_t> t(log->at, log->at + log->n.load());
  std::sort(t.begin(), t.end());
  size_t worst = 0;
  for (size_t i = 0, j = 0; i < t.size(); ++i) {
    while (t[i] - t[j] >= kWindow) ++j;
    worst = std::max(worst, i - j + 1);
  }
  std::printf("%zu requests in %.1f s; the busiest 800 ms held %zu (limit %d): %s\n", t.size(),
              kRun / 1e9, worst, kLimit, worst <= kLimit ? "within the limit" : "LIMIT EXCEEDED");
  sluice::Segment::Remove(ns);
  return worst <= kLimit ? 0 : 1;
}
