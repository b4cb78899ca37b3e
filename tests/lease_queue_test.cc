// Fair hand-over of leases (lease_queue.h): tickets in shared memory, the
// waiter served first, a waiter that left (killed) skipped after kSkipNs.
#include "lease_queue.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "sluice/duration.h"
#include "sluice/segment.h"
#include "support/test_namespace.h"

namespace sluice::lease {
namespace {

using testing::ScopedNamespace;
constexpr int64_t kMs = kNanosPerMilli;

TEST(LeaseQueueTest, TicketsAreServedInOrderAndMovedOnOnce) {
  std::atomic<int64_t> next{0};
  std::atomic<uint64_t> serving{0};
  std::atomic<uint64_t> since{0};
  Queue q(&next, &serving, &since);
  EXPECT_TRUE(q.Empty());
  const uint32_t a = q.TakeTicket();
  const uint32_t b = q.TakeTicket();
  EXPECT_FALSE(q.Empty());
  EXPECT_EQ(q.Ahead(a), 0);
  EXPECT_EQ(q.Ahead(b), 1);
  const int64_t now = 5000 * kMs;
  EXPECT_EQ(q.ServedSince(a, now), now);  // not known: from now on
  EXPECT_EQ(q.ServedSince(a, now + kMs), now);
  EXPECT_TRUE(q.MoveOn(a, now - 3 * kMs));
  EXPECT_FALSE(q.MoveOn(a, now));  // already moved on: a second skip does nothing
  EXPECT_EQ(q.Ahead(b), 0);
  EXPECT_EQ(q.Ahead(a), -1);  // behind: competes freely
  EXPECT_EQ(q.ServedSince(b, now), now - 3 * kMs);
  EXPECT_TRUE(q.MoveOn(b, now));
  EXPECT_TRUE(q.Empty());
}

TEST(LeaseQueueTest, TicketsThatLeaveAreMovedPast) {
  std::atomic<int64_t> next{0};
  std::atomic<uint64_t> serving{0};
  std::atomic<uint64_t> since{0};
  Queue q(&next, &serving, &since);
  uint32_t t[5];
  for (uint32_t& x : t) x = q.TakeTicket();
  EXPECT_FALSE(q.Leave(t[1], kMs));  // marked gone, not served: nobody to wake
  EXPECT_FALSE(q.Leave(t[2], kMs));
  EXPECT_EQ(q.Ahead(t[3]), 3);
  EXPECT_TRUE(q.Leave(t[0], kMs));  // served: moves on past 1 and 2
  EXPECT_EQ(q.Ahead(t[3]), 0);
  EXPECT_TRUE(q.MoveOn(t[3], kMs));
  EXPECT_TRUE(q.MoveOn(t[4], kMs));
  EXPECT_TRUE(q.Empty());
}

TEST(LeaseQueueTest, TicketsWrapAndDamageOnlyCostsOrder) {
  std::atomic<int64_t> next{int64_t(0xffffffffULL)};
  std::atomic<uint64_t> serving{0xffffffffULL};
  std::atomic<uint64_t> since{0};
  Queue q(&next, &serving, &since);
  const uint32_t a = q.TakeTicket();  // 0xffffffff
  const uint32_t b = q.TakeTicket();  // 0 (wrapped)
  EXPECT_EQ(q.Ahead(a), 0);
  EXPECT_EQ(q.Ahead(b), 1);
  EXPECT_TRUE(q.MoveOn(a, kMs));
  EXPECT_EQ(q.Ahead(b), 0);
  serving.store(0x80000000u);  // far from every ticket
  EXPECT_EQ(q.Ahead(3), -1);
  EXPECT_FALSE(q.Leave(3, kMs));
}

// Waiters queued one after another are granted in that order.
TEST(LeaseQueueTest, BlockedWaitersAreGrantedInArrivalOrder) {
  ScopedNamespace ns("lfifo");
  Segment seg = ns.Open();
  Limiter l = *seg.Define("m", LimiterSpec::Lease(1, 60 * kNanosPerSecond, false));
  StatusOr<Lease> held = l.AcquireLease(0);
  ASSERT_TRUE(held.ok());
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&, i] {
      StatusOr<Lease> w = l.AcquireLease(20 * kNanosPerSecond);
      if (!w.ok()) return;
      {
        std::lock_guard<std::mutex> g(mu);
        order.push_back(i);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      (void)l.ReleaseLease(*w);
    });
    // The next one arrives after this one has queued.
    ASSERT_TRUE(testing::WaitFor([&] { return l.stats().waiting > i; }, std::chrono::seconds(5)));
  }
  ASSERT_TRUE(l.ReleaseLease(*held).ok());
  for (auto& t : waiters) t.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

// A waiter that stops (killed: `stop` SIGKILL; stuck: SIGSTOP) while it is
// the one served, with a lease held; returns how long after the release the
// waiter behind it was granted (-1: never).
int64_t NextGrantAfterStoppedWaiter(int stop) {
  ScopedNamespace ns("lfifostop");
  Segment seg = ns.Open();
  Limiter l = *seg.Define("m", LimiterSpec::Lease(1, 60 * kNanosPerSecond, false));
  StatusOr<Lease> held = l.AcquireLease(0);
  if (!held.ok()) return -2;
  const pid_t child = fork();
  if (child == 0) {
    Segment s = *Segment::Open(ns.ns(), {});
    Limiter c = *s.Find("m");
    (void)c.AcquireLease(-1);  // queued first; stopped there
    _exit(0);
  }
  int64_t result = -1;
  if (testing::WaitFor([&] { return l.stats().waiting >= 1; }, std::chrono::seconds(5))) {
    std::atomic<int64_t> got_at{0};
    std::thread next([&] {
      StatusOr<Lease> w = l.AcquireLease(5 * kNanosPerSecond);
      if (w.ok()) got_at = MonotonicNowNs();
    });
    if (testing::WaitFor([&] { return l.stats().waiting >= 2; }, std::chrono::seconds(5))) {
      kill(child, stop);
      if (stop == SIGKILL) waitpid(child, nullptr, 0);
      const int64_t released = MonotonicNowNs();
      if (l.ReleaseLease(*held).ok()) {
        next.join();
        if (got_at.load() > 0) result = got_at - released;
      }
    }
    if (next.joinable()) next.join();
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  return result;
}

// Killed while queued: its slot names a process that is gone, so the next
// waiter does not wait for it at all.
TEST(LeaseQueueTest, KilledWaiterIsMovedPastAtOnce) {
  const int64_t after = NextGrantAfterStoppedWaiter(SIGKILL);
  ASSERT_GE(after, 0) << "the waiter behind a dead one was never granted";
  EXPECT_LT(after, kSkipNs);
}

// Stuck (alive, not running): moved past once a holder has been free for
// kSkipNs under it.
TEST(LeaseQueueTest, StuckWaiterIsMovedPastAfterABoundedTime) {
  const int64_t after = NextGrantAfterStoppedWaiter(SIGSTOP);
  ASSERT_GE(after, 0) << "the waiter behind a stuck one was never granted";
  EXPECT_GE(after, kSkipNs - kMs);
  EXPECT_LT(after, kSkipNs + 2 * kNanosPerSecond);  // generous: a busy machine
}

// Two processes hand one lease back and forth, each entering its blocking
// acquire while the other still holds the lease and releases it a random
// moment later: every release races a waiter going to sleep. With ttl 60 s
// nothing but the release's wake-up can end a wait, so a lost wake-up
// leaves a waiter to its 20 s timeout (acquire.cc, WaitForLease: the
// sleepers / seq_cst release protocol).
int PingPong(Limiter& l, std::atomic<int>* turn, int me, int rounds) {
  std::minstd_rand rng(static_cast<uint32_t>(me) + 7);
  for (int r = 0; r < rounds; ++r) {
    const int64_t until = MonotonicNowNs() + 20 * kNanosPerSecond;
    while (turn->load() != me) {
      if (MonotonicNowNs() > until) return 10;  // the other side is stuck
      sched_yield();
    }
    StatusOr<Lease> got = l.AcquireLease(20 * kNanosPerSecond);
    if (!got.ok()) return got.status().code() == Code::kTimeout ? 11 : 12;
    turn->store(1 - me);  // the other side now blocks on our lease
    // Mostly once it is in its acquire (its "waiting" count), then a spin
    // of 0-20 us (the release races its way to sleep) or a sleep (it is
    // asleep: the release must wake it).
    const bool last = me == 1 && r == rounds - 1;  // side 0 has finished
    if (r % 4 != 0 && !last) {
      while (l.stats().waiting == 0) {
        if (MonotonicNowNs() > until) return 14;
      }
    }
    if (r % 2 == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
    } else {
      const int64_t hold = MonotonicNowNs() + static_cast<int64_t>(rng() % 20000);
      while (MonotonicNowNs() < hold) {
      }
    }
    if (!l.ReleaseLease(*got).ok()) return 13;
  }
  return 0;
}

TEST(LeaseQueueTest, ReleasesNeverMissAWaiterGoingToSleep) {
  ScopedNamespace ns("lpingpong");
  Segment seg = ns.Open();
  Limiter l = *seg.Define("m", LimiterSpec::Lease(1, 60 * kNanosPerSecond, false));
  void* mem = mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* turn = new (mem) std::atomic<int>(0);
  constexpr int kRounds = 2000;
  const pid_t child = fork();
  if (child == 0) {
    Segment s = *Segment::Open(ns.ns(), {});
    Limiter c = *s.Find("m");
    _exit(PingPong(c, turn, 1, kRounds));
  }
  ASSERT_GT(child, 0);
  const int mine = PingPong(l, turn, 0, kRounds);
  if (mine != 0) kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  munmap(mem, sizeof(std::atomic<int>));
  // Hand-overs went through a sleep (the test exercised the wake-up).
  EXPECT_GT(l.stats().waits, 0u);
  EXPECT_EQ(mine, 0) << "11: an acquire timed out (a wake-up was lost)";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "11: an acquire timed out (a wake-up was lost)";
}

}  // namespace
}  // namespace sluice::lease
