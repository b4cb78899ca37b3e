#include "lease_table.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "platform.h"

namespace sluice::lease {
namespace {

constexpr int64_t kMs = 1000000;

class TestTable {
 public:
  TestTable(uint64_t holders, int64_t ttl, bool reclaim) : e_(new HolderEntry[holders]) {
    for (uint64_t i = 0; i < holders; ++i) {
      e_[i].expiry.store(kUnusedExpiry);
      e_[i].owner.store(0);
      e_[i].owner_pidns.store(0);
      e_[i].token.store(0);
      e_[i].granted_ns.store(0);
      e_[i].free_since_ns.store(INT64_MIN);
    }
    t_ = Table{e_.get(), holders, ttl, reclaim, INT64_MIN, &token_, &hint_};
    // As params.cc: reclaim tables have no bound (invariant 9).
    if (!reclaim) t_.full_until = &full_until_;
  }
  Table& t() { return t_; }
  HolderEntry& entry(uint64_t i) { return e_[i]; }
  uint64_t hint() const { return hint_.load(); }
  int64_t full_until() const { return full_until_.load(); }

 private:
  std::unique_ptr<HolderEntry[]> e_;
  std::atomic<uint64_t> token_{0};
  std::atomic<uint64_t> hint_{0};
  std::atomic<int64_t> full_until_{0};
  Table t_;
};

TEST(LeaseTableTest, HoldersAndExpiry) {
  TestTable tt(2, 250 * kMs, false);
  const int64_t t0 = 1000 * kMs;
  Grant a = TryAcquire(tt.t(), t0);
  Grant b = TryAcquire(tt.t(), t0 + kMs);
  ASSERT_TRUE(a.ok && b.ok);
  EXPECT_EQ(a.lease.expires_ns, t0 + 250 * kMs);
  Grant c = TryAcquire(tt.t(), t0 + 2 * kMs);
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.retry_after_ns, 248 * kMs);
  EXPECT_EQ(Held(tt.t(), t0 + 2 * kMs, nullptr), 2u);
  // Nobody releases: the first frees itself at its ttl.
  EXPECT_FALSE(TryAcquire(tt.t(), t0 + 250 * kMs - 1).ok);
  EXPECT_TRUE(TryAcquire(tt.t(), t0 + 250 * kMs).ok);
}

TEST(LeaseTableTest, ReleaseFreesEarlyOnceOnly) {
  TestTable tt(1, 250 * kMs, false);
  const int64_t t0 = 1000 * kMs;
  Grant a = TryAcquire(tt.t(), t0);
  ASSERT_TRUE(a.ok);
  EXPECT_TRUE(Release(tt.t(), a.lease, t0 + kMs));
  EXPECT_FALSE(Release(tt.t(), a.lease, t0 + kMs));  // twice
  Grant b = TryAcquire(tt.t(), t0 + kMs);
  ASSERT_TRUE(b.ok);
  // The old lease cannot release the new holder's, even at the same times.
  EXPECT_FALSE(Release(tt.t(), a.lease, t0 + kMs));
  EXPECT_NE(b.lease.expires_ns, a.lease.expires_ns);
  EXPECT_TRUE(Release(tt.t(), b.lease, t0 + 2 * kMs));
}

TEST(LeaseTableTest, SameInstantReacquireKeepsIdentitiesDistinct) {
  TestTable tt(1, 100 * kMs, false);
  Grant a = TryAcquire(tt.t(), 500 * kMs);
  ASSERT_TRUE(Release(tt.t(), a.lease, 500 * kMs));
  Grant b = TryAcquire(tt.t(), 500 * kMs);
  ASSERT_TRUE(b.ok);
  EXPECT_GT(b.lease.expires_ns, a.lease.expires_ns);
  EXPECT_FALSE(Release(tt.t(), a.lease, 500 * kMs));
  EXPECT_EQ(Held(tt.t(), 500 * kMs, nullptr), 1u);
}

TEST(LeaseTableTest, RenewExtendsAndExpiredCannotRenew) {
  TestTable tt(1, 100 * kMs, false);
  Grant a = TryAcquire(tt.t(), 1000 * kMs);
  Lease l = a.lease;
  EXPECT_TRUE(Renew(tt.t(), &l, 1090 * kMs));
  EXPECT_EQ(l.expires_ns, 1190 * kMs);
  EXPECT_FALSE(TryAcquire(tt.t(), 1150 * kMs).ok);
  EXPECT_FALSE(Renew(tt.t(), &l, 1190 * kMs));  // lapsed
  EXPECT_TRUE(TryAcquire(tt.t(), 1190 * kMs).ok);
}

TEST(LeaseTableTest, TokensStrictlyIncrease) {
  TestTable tt(3, 10 * kMs, false);
  uint64_t last = 0;
  int64_t now = 1000 * kMs;
  for (int i = 0; i < 100; ++i) {
    Grant g = TryAcquire(tt.t(), now);
    if (g.ok) {
      EXPECT_GT(g.lease.token, last);
      last = g.lease.token;
      if (i % 3 == 0) Release(tt.t(), g.lease, now);
    }
    now += kMs;
  }
  EXPECT_GT(last, 30u);
}

TEST(LeaseTableTest, TryAcquireNIsAllOrNothing) {
  TestTable tt(3, 100 * kMs, false);
  bool sealed = false;
  EXPECT_TRUE(TryAcquireN(tt.t(), 2, 1000 * kMs, &sealed).granted);
  EXPECT_FALSE(TryAcquireN(tt.t(), 2, 1000 * kMs, &sealed).granted);
  EXPECT_TRUE(TryAcquireN(tt.t(), 1, 1000 * kMs, &sealed).granted);
  EXPECT_EQ(TryAcquireN(tt.t(), 4, 1000 * kMs, &sealed).retry_after_ns, -1);
}

pid_t DeadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

TEST(LeaseTableTest, ReclaimTakesBackADeadHoldersLease) {
  for (bool reclaim : {false, true}) {
    TestTable tt(1, 1000 * kMs, reclaim);
    Grant a = TryAcquire(tt.t(), 1000 * kMs);
    ASSERT_TRUE(a.ok);
    // Pretend the holder was a process that has since died.
    const pid_t dead = DeadPid();
    tt.entry(0).owner_pidns.store(platform::PidNamespaceId());
    tt.entry(0).owner.store((uint64_t(dead) << 32) | (uint64_t(a.lease.expires_ns) & 0xffffffffu));
    EXPECT_EQ(TryAcquire(tt.t(), 1001 * kMs).ok, reclaim) << "reclaim=" << reclaim;
  }
}

TEST(LeaseTableTest, PidsFromAnotherPidNamespaceAreNeverReclaimed) {
  TestTable tt(1, 1000 * kMs, true);
  Grant a = TryAcquire(tt.t(), 1000 * kMs);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(tt.entry(0).owner_pidns.load(), platform::PidNamespaceId());
  tt.entry(0).owner_pidns.store(platform::PidNamespaceId() + 1);
  tt.entry(0).owner.store((uint64_t(DeadPid()) << 32) |
                          (uint64_t(a.lease.expires_ns) & 0xffffffffu));
  EXPECT_FALSE(TryAcquire(tt.t(), 1001 * kMs).ok);
}

TEST(LeaseTableTest, StaleClockCannotTakeAReleasedEntryEarly) {
  TestTable tt(1, 1000 * kMs, false);
  Grant b = TryAcquire(tt.t(), 2000 * kMs);
  ASSERT_TRUE(b.ok);
  ASSERT_TRUE(Release(tt.t(), b.lease, 2100 * kMs));
  // A caller whose clock read 1900 ms (before B's grant and release).
  EXPECT_FALSE(TryAcquire(tt.t(), 1900 * kMs).ok);
  EXPECT_FALSE(TryAcquire(tt.t(), 2099 * kMs).ok);
  EXPECT_TRUE(TryAcquire(tt.t(), 2100 * kMs).ok);
}

TEST(LeaseTableTest, PartialClaimRollbackRestoresEntries) {
  TestTable tt(2, 1000 * kMs, false);
  bool sealed = false;
  ASSERT_TRUE(TryAcquireN(tt.t(), 1, 1000 * kMs, &sealed).granted);  // entry 0 until 2000
  ASSERT_TRUE(TryAcquireN(tt.t(), 1, 1500 * kMs, &sealed).granted);  // entry 1 until 2500
  EXPECT_FALSE(
      TryAcquireN(tt.t(), 2, 2200 * kMs, &sealed).granted);  // takes 0, fails 1, puts 0 back
  // Entry 0 is lapsed again (not "released"): a stale clock from inside its
  // old lease cannot take it.
  EXPECT_FALSE(TryAcquireN(tt.t(), 1, 1300 * kMs, &sealed).granted);
  EXPECT_TRUE(TryAcquireN(tt.t(), 1, 2200 * kMs, &sealed).granted);
}

TEST(LeaseTableTest, HalfWrittenOwnerIsNeverReclaimed) {
  TestTable tt(1, 1000 * kMs, true);
  Grant a = TryAcquire(tt.t(), 1000 * kMs);
  ASSERT_TRUE(a.ok);
  // The owner word still names a dead previous holder of another grant.
  tt.entry(0).owner_pidns.store(platform::PidNamespaceId());
  tt.entry(0).owner.store((uint64_t(DeadPid()) << 32) | 12345u);
  EXPECT_FALSE(TryAcquire(tt.t(), 1001 * kMs).ok);
}

TEST(LeaseTableTest, GateDeniesUntilDroppedLeasesLapse) {
  TestTable tt(1, 100 * kMs, false);
  tt.t().gate_until_ns = 2000 * kMs;
  Grant g = TryAcquire(tt.t(), 1900 * kMs);
  EXPECT_FALSE(g.ok);
  EXPECT_EQ(g.retry_after_ns, 100 * kMs);
  EXPECT_TRUE(TryAcquire(tt.t(), 2000 * kMs).ok);
}

// Invariant 8: a release points the next claim at the entry it freed, so a
// nearly full table hands it over without walking the held entries.
TEST(LeaseTableTest, ReleasedEntryIsWhereTheNextClaimStarts) {
  const uint64_t holders = 64;
  TestTable tt(holders, 250 * kMs, false);
  const int64_t t0 = 1000 * kMs;
  std::vector<Lease> held;
  for (uint64_t i = 0; i < holders; ++i) {
    Grant g = TryAcquire(tt.t(), t0);
    ASSERT_TRUE(g.ok);
    held.push_back(g.lease);
  }
  for (uint32_t i : {17u, 3u, 40u}) {
    ASSERT_TRUE(Release(tt.t(), held[i], t0 + kMs));
    EXPECT_EQ(tt.hint(), i);
    Grant g = TryAcquire(tt.t(), t0 + kMs);
    ASSERT_TRUE(g.ok);
    EXPECT_EQ(g.lease.index, i);
    EXPECT_EQ(tt.hint(), i + 1);
    EXPECT_FALSE(TryAcquire(tt.t(), t0 + kMs).ok);
  }
  // Anonymous claims (TryAcquireN) start at the hint too.
  ASSERT_TRUE(Release(tt.t(), held[9], t0 + 2 * kMs));
  bool sealed = false;
  EXPECT_TRUE(TryAcquireN(tt.t(), 1, t0 + 2 * kMs, &sealed).granted);
  EXPECT_EQ(tt.hint(), 10u);
  EXPECT_FALSE(TryAcquireN(tt.t(), 1, t0 + 2 * kMs, &sealed).granted);
}

// A try whose clock was read before an entry's release says so (the
// caller retries at a fresh clock: acquire.cc TryLease).
TEST(LeaseTableTest, ADenialSaysWhenAnEntryWasFreedAfterItsClock) {
  TestTable tt(2, 1000 * kMs, false);
  Grant a = TryAcquire(tt.t(), 2000 * kMs);
  Grant b = TryAcquire(tt.t(), 2000 * kMs);
  ASSERT_TRUE(a.ok && b.ok);
  ASSERT_TRUE(Release(tt.t(), a.lease, 2100 * kMs));
  Grant stale = TryAcquire(tt.t(), 2050 * kMs);
  EXPECT_FALSE(stale.ok);
  EXPECT_TRUE(stale.freed_after_now);
  EXPECT_EQ(tt.full_until(), 0);  // not every entry was held: no bound
  Grant fresh = TryAcquire(tt.t(), 2100 * kMs);
  EXPECT_TRUE(fresh.ok);
  Grant full = TryAcquire(tt.t(), 2100 * kMs);
  EXPECT_FALSE(full.ok);
  EXPECT_FALSE(full.freed_after_now);
}

// Invariant 9: a full table learns when its first entry lapses, denies
// before then without reading the entries, and forgets it on a release.
TEST(LeaseTableTest, AFullTableDeniesUntilItsSoonestExpiryAndAReleaseForgetsIt) {
  TestTable tt(4, 100 * kMs, false);
  const int64_t t0 = 1000 * kMs;
  std::vector<Lease> held;
  for (int i = 0; i < 4; ++i) {
    Grant g = TryAcquire(tt.t(), t0 + (3 - i) * kMs);  // entry 3 lapses first
    ASSERT_TRUE(g.ok);
    held.push_back(g.lease);
  }
  EXPECT_EQ(tt.full_until(), 0);
  Grant d = TryAcquire(tt.t(), t0 + 10 * kMs);
  EXPECT_FALSE(d.ok);
  EXPECT_EQ(tt.full_until(), t0 + 100 * kMs);
  EXPECT_EQ(d.retry_after_ns, 90 * kMs);
  EXPECT_EQ(tt.hint(), 3u);  // where the first lapse comes
  // Before the bound, the entries are not read: one made free behind the
  // table's back (no write a bound must see) is not found.
  const int64_t e1 = tt.entry(1).expiry.load();
  tt.entry(1).expiry.store(kUnusedExpiry);
  Grant before = TryAcquire(tt.t(), t0 + 20 * kMs);
  EXPECT_FALSE(before.ok);
  EXPECT_EQ(before.retry_after_ns, 80 * kMs);
  tt.entry(1).expiry.store(e1);
  // A release forgets the bound: its entry is granted at once.
  ASSERT_TRUE(Release(tt.t(), held[2], t0 + 30 * kMs));
  EXPECT_EQ(tt.full_until(), 0);
  Grant after = TryAcquire(tt.t(), t0 + 30 * kMs);
  ASSERT_TRUE(after.ok);
  EXPECT_EQ(after.lease.index, 2u);
  // Full again, learnt again; at the bound the lapsed entry is taken.
  EXPECT_FALSE(TryAcquire(tt.t(), t0 + 40 * kMs).ok);
  EXPECT_EQ(tt.full_until(), t0 + 100 * kMs);
  bool sealed = false;
  EXPECT_FALSE(TryAcquireN(tt.t(), 1, t0 + 99 * kMs, &sealed).granted);
  Grant lapse = TryAcquire(tt.t(), t0 + 100 * kMs);
  ASSERT_TRUE(lapse.ok);
  EXPECT_EQ(lapse.lease.index, 3u);
}

// A sealed entry (a change under way) ends the scan: no bound is learnt.
TEST(LeaseTableTest, ATableBeingChangedLearnsNoBound) {
  TestTable tt(2, 100 * kMs, false);
  const int64_t t0 = 1000 * kMs;
  ASSERT_TRUE(TryAcquire(tt.t(), t0).ok);
  ASSERT_TRUE(TryAcquire(tt.t(), t0).ok);
  tt.entry(1).expiry.store(kSealed);
  Grant g = TryAcquire(tt.t(), t0 + kMs);
  EXPECT_TRUE(g.sealed);
  EXPECT_EQ(tt.full_until(), 0);
}

// Invariant 9's second read, with two threads: this one takes and releases
// the only entry; a scanner tries at now = 1 (a released entry is never
// free for it: its clock is before the release; a held one makes it learn
// a bound). A release that falls between the scanner's first read and its
// bound must take the bound back: the first try after our own release
// always finds the entry. (From a review: with the second read skipped this
// failed 3 runs in 3, within about a second.)
TEST(LeaseTableTest, ABoundLearntAcrossAReleaseIsTakenBack) {
  TestTable tt(1, 60000 * kMs, false);
  Grant first = TryAcquire(tt.t(), platform::NowNs());
  ASSERT_TRUE(first.ok);
  Lease held = first.lease;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> stolen{0};
  std::atomic<uint64_t> scans{0};
  std::thread scanner([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      if (TryAcquire(tt.t(), 1).ok) stolen.fetch_add(1);
      scans.fetch_add(1, std::memory_order_relaxed);
    }
  });
  const int64_t end = platform::NowNs() + 1500 * kMs;
  uint64_t rounds = 0;
  uint64_t hidden = 0;
  while (platform::NowNs() < end) {
    ASSERT_TRUE(Release(tt.t(), held, platform::NowNs()));
    std::this_thread::yield();
    Grant g = TryAcquire(tt.t(), platform::NowNs());
    if (!g.ok) {
      ++hidden;
      break;
    }
    held = g.lease;
    ++rounds;
  }
  stop.store(true);
  scanner.join();
  EXPECT_EQ(stolen.load(), 0u);
  EXPECT_EQ(hidden, 0u) << "the released entry was hidden by bound " << tt.full_until() << " after "
                        << rounds << " rounds";
  EXPECT_GT(scans.load(), 0u);
}

// Reclaim tables can free an entry with no write (a holder that died):
// they never learn a bound.
TEST(LeaseTableTest, ReclaimTablesLearnNoBound) {
  TestTable tt(1, 100 * kMs, true);
  ASSERT_TRUE(TryAcquire(tt.t(), 1000 * kMs).ok);
  EXPECT_FALSE(TryAcquire(tt.t(), 1001 * kMs).ok);
  EXPECT_EQ(tt.t().full_until, nullptr);
}

}  // namespace
}  // namespace sluice::lease
