// EtcdElection against a real etcd started by the test (/usr/bin/etcd on
// loopback ports, a temporary data directory): leases, a campaign that waits
// while another leads, the leader's address, and epochs that grow across
// leaders and are refused to a key that no longer leads.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "etcd_election.h"
#include "local_etcd.h"

namespace sluice::fleet {
namespace {

class EtcdElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!LocalEtcd::Available()) GTEST_SKIP() << "/usr/bin/etcd absent (Debian: etcd-server)";
    char tmpl[] = "/tmp/sluice-etcd-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    etcd_ = std::make_unique<LocalEtcd>(dir_);
    ASSERT_TRUE(etcd_->ok()) << etcd_->error();
  }
  void TearDown() override {
    etcd_.reset();
    if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<LocalEtcd> etcd_;
};

TEST_F(EtcdElectionTest, CampaignLeaderEpochsAndHandOver) {
  EtcdElection a({etcd_->url()}, "t"), b({etcd_->url()}, "t");
  EXPECT_EQ(a.Leader().status().code(), Code::kNotFound);
  int64_t ttl = 0;
  StatusOr<int64_t> la = a.Grant(30, &ttl);
  ASSERT_TRUE(la.ok()) << la.status().ToString();
  EXPECT_EQ(ttl, 30);
  StatusOr<int64_t> left = a.KeepAlive(*la);
  ASSERT_TRUE(left.ok()) << left.status().ToString();
  EXPECT_EQ(*left, 30);

  StatusOr<LeaderKey> ka = a.Campaign(*la, "127.0.0.1:1", 5000);
  ASSERT_TRUE(ka.ok()) << ka.status().ToString();
  EXPECT_GT(ka->rev, 0);
  EXPECT_EQ(ka->lease, *la);
  StatusOr<std::string> leader = b.Leader();
  ASSERT_TRUE(leader.ok()) << leader.status().ToString();
  EXPECT_EQ(*leader, "127.0.0.1:1");
  // Epochs: at least the floor, and above every earlier claim.
  StatusOr<uint64_t> e1 = a.ClaimEpoch(*ka, 1000);
  ASSERT_TRUE(e1.ok()) << e1.status().ToString();
  EXPECT_EQ(*e1, 1000u);
  StatusOr<uint64_t> e2 = a.ClaimEpoch(*ka, 10);  // a floor that went back
  ASSERT_TRUE(e2.ok());
  EXPECT_EQ(*e2, 1001u);

  // b waits while a leads (its campaign is withdrawn at the timeout) ...
  StatusOr<int64_t> lb = b.Grant(30, nullptr);
  ASSERT_TRUE(lb.ok());
  StatusOr<LeaderKey> kb = b.Campaign(*lb, "127.0.0.1:2", 300);
  EXPECT_EQ(kb.status().code(), Code::kTimeout);
  // ... and leads at once when a's lease goes, campaigning under a new
  // lease (etcd deletes the withdrawn campaign's key, named after its lease,
  // some time after the cancel: Campaigner does the same).
  ASSERT_TRUE(b.Revoke(*lb).ok());
  lb = b.Grant(30, nullptr);
  ASSERT_TRUE(lb.ok());
  std::thread revoke([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_TRUE(a.Revoke(*la).ok());
  });
  const auto t0 = std::chrono::steady_clock::now();
  kb = b.Campaign(*lb, "127.0.0.1:2", 5000);
  revoke.join();
  ASSERT_TRUE(kb.ok()) << kb.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_GT(kb->rev, ka->rev);
  StatusOr<std::string> now_leads = a.Leader();
  ASSERT_TRUE(now_leads.ok()) << now_leads.status().ToString();
  EXPECT_EQ(*now_leads, "127.0.0.1:2");
  EXPECT_EQ(a.KeepAlive(*la).status().code(), Code::kNotFound);
  // The deposed key claims nothing; the new leader's epoch is above all.
  EXPECT_EQ(a.ClaimEpoch(*ka, 5000).status().code(), Code::kNotHeld);
  StatusOr<uint64_t> e3 = b.ClaimEpoch(*kb, 10);
  ASSERT_TRUE(e3.ok());
  EXPECT_EQ(*e3, 1002u);

  // Cancel makes a blocked campaign return.
  StatusOr<int64_t> lc = a.Grant(30, nullptr);
  ASSERT_TRUE(lc.ok());
  std::thread cancel([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    a.Cancel();
  });
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(a.Campaign(*lc, "127.0.0.1:3", 10000).status().code(), Code::kCancelled);
  cancel.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(3));
}

TEST_F(EtcdElectionTest, UnreachableEndpointsAreSkipped) {
  // The first endpoint refuses connections; the second answers.
  EtcdElection e({"http://127.0.0.1:1", etcd_->url()}, "u");
  EXPECT_TRUE(e.Grant(5, nullptr).ok());
  EtcdElection none({"http://127.0.0.1:1"}, "u");
  EXPECT_EQ(none.Grant(5, nullptr).status().code(), Code::kIo);
}

}  // namespace
}  // namespace sluice::fleet
