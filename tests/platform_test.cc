// The platform's sleeps run with the smallest timer slack, for the
// sleeping thread only, and give the thread its own slack back after.
#include "platform.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "sluice/duration.h"
#include "support/test_namespace.h"

namespace sluice::platform {
namespace {

// The timer slack of thread `tid` of this process, or -1 where the kernel
// does not show it.
long SlackOf(long tid) {
  std::ifstream f("/proc/" + std::to_string(tid) + "/timerslack_ns");  // a thread id works
  long v = -1;
  f >> v;
  return f ? v : -1;
}

TEST(PlatformTest, SleepUsesMinimalSlackAndRestoresTheThreads) {
  std::atomic<long> tid{0};
  std::atomic<long> after{0};
  std::thread sleeper([&] {
    prctl(PR_SET_TIMERSLACK, 123456UL, 0, 0, 0);
    tid = syscall(SYS_gettid);
    SleepUntil(NowNs() + 300 * kNanosPerMilli, CancelCheck{});
    after = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  });
  const long own = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  ASSERT_TRUE(testing::WaitFor([&] { return tid.load() != 0; }, std::chrono::seconds(5)));
  if (SlackOf(tid) < 0) {
    sleeper.join();
    GTEST_SKIP() << "/proc/TID/timerslack_ns is not readable here";
  }
  // While it sleeps: 1 ns for that thread, this thread's unchanged.
  EXPECT_TRUE(testing::WaitFor([&] { return SlackOf(tid) == 1; }, std::chrono::seconds(5)));
  EXPECT_EQ(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), own);
  sleeper.join();
  EXPECT_EQ(after.load(), 123456);
}

TEST(PlatformTest, FutexWaitRestoresTheThreadsSlack) {
  prctl(PR_SET_TIMERSLACK, 654321UL, 0, 0, 0);
  std::atomic<uint32_t> word{7};
  FutexWait(&word, 7, NowNs() + kNanosPerMilli);
  EXPECT_EQ(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 654321);
  FutexWait(&word, 8, NowNs() + kNanosPerMilli);  // not equal: returns at once
  EXPECT_EQ(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 654321);
}

}  // namespace
}  // namespace sluice::platform
