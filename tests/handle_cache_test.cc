// The process-local cache behind Limiter handles (handle_cache.h): reloads
// of changed parameters, from many threads and across fork().
#include "handle_cache.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

#include "sluice/duration.h"
#include "sluice/limiter.h"
#include "support/test_namespace.h"

// A global operator new that can park the calling thread: the test parks a
// thread inside a parameter reload (Reload allocates the new ActiveParams)
// and forks while it is parked. Pass-through otherwise.
namespace {
thread_local bool t_park_in_next_new = false;
std::atomic<bool> g_parked{false};
std::atomic<bool> g_unpark{false};
}  // namespace

void* operator new(std::size_t n) {
  if (t_park_in_next_new) {
    t_park_in_next_new = false;
    g_parked = true;
    while (!g_unpark.load()) {
      timespec ts{0, 1000000};
      nanosleep(&ts, nullptr);
    }
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// GCC cannot see that these pair with the malloc-based operator new above.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace sluice {
namespace {

using testing::ScopedNamespace;

// Issue 8: the reload took a mutex; a fork() while another thread held it
// left the child's copy locked forever, and the child's next reload hung.
TEST(HandleCacheTest, ForkChildReloadsWhileAParentThreadIsMidReload) {
  ScopedNamespace ns("forkreload");
  Segment seg = ns.Open();
  Limiter l = *seg.Define("s", LimiterSpec::Sliding(10, 3600 * kNanosPerSecond));
  ASSERT_TRUE(l.TryAcquire(1).granted);  // params cached
  ASSERT_TRUE(seg.Define("s", LimiterSpec::Sliding(20, 3600 * kNanosPerSecond)).ok());
  std::thread reloader([&] {
    t_park_in_next_new = true;
    (void)l.spec();  // reloads: parks in the allocation of the new params
  });
  ASSERT_TRUE(testing::WaitFor([] { return g_parked.load(); }, std::chrono::seconds(10)));
  const pid_t child = fork();
  if (child == 0) {
    alarm(10);  // a hang is a failure (SIGALRM), not a stuck test
    const bool ok = l.spec().limit == 20 && l.TryAcquire(1).granted;
    _exit(ok ? 0 : 1);
  }
  g_unpark = true;
  reloader.join();
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status)) << "child hung in its reload (signal "
                                 << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")";
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
  EXPECT_EQ(l.spec().limit, 20u);
}

// Threads that reload at once all end on the published parameters.
TEST(HandleCacheTest, ConcurrentReloadsAgree) {
  ScopedNamespace ns("reloads");
  Segment seg = ns.Open();
  Limiter l = *seg.Define("s", LimiterSpec::Sliding(10, 3600 * kNanosPerSecond));
  for (uint64_t limit = 11; limit < 40; ++limit) {
    ASSERT_TRUE(seg.Define("s", LimiterSpec::Sliding(limit, 3600 * kNanosPerSecond)).ok());
    std::vector<std::thread> ts;
    std::atomic<int> agree{0};
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&, limit] { agree += l.spec().limit == limit; });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(agree.load(), 4) << limit;
  }
}

}  // namespace
}  // namespace sluice
