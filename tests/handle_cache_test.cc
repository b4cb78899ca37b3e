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

namespace sluice {
namespace {

using testing::ScopedNamespace;

// Issue 8: the reload took a mutex; a fork() while another thread held it
// left the child's copy locked forever, and the child's next reload hung.
// Now the cache is a seqlock that a writer never waits on: a fork while a
// parent's thread is rewriting it (seq odd, as set here) leaves the child
// deciding with its own copies, and its first counted decision releases it.
TEST(HandleCacheTest, ForkChildReloadsWhileAParentThreadIsMidReload) {
  ScopedNamespace ns("forkreload");
  Segment seg = ns.Open();
  Limiter l = *seg.Define("s", LimiterSpec::Sliding(10, 3600 * kNanosPerSecond));
  ASSERT_TRUE(l.TryAcquire(1).granted);  // params cached
  ASSERT_TRUE(seg.Define("s", LimiterSpec::Sliding(20, 3600 * kNanosPerSecond)).ok());
  HandleCache& cache = LimiterInternals::CacheOf(l);
  const uint64_t seq = cache.seq.load();
  ASSERT_EQ(seq % 2, 0u);
  cache.seq.store(seq + 1);  // a parent thread "mid-rewrite"
  const pid_t child = fork();
  if (child == 0) {
    alarm(10);  // a hang is a failure (SIGALRM), not a stuck test
    bool ok = l.spec().limit == 20 && l.TryAcquire(1).granted;
    ok = ok && cache.seq.load() % 2 == 0;  // released by the child
    ok = ok && l.TryAcquire(1).granted && l.spec().limit == 20;
    _exit(ok ? 0 : 1);
  }
  cache.seq.store(seq + 2);  // the parent's "thread" finishes
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
