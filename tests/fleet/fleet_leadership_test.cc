// Several allotters, without etcd: the Leadership gate (injected time: who
// divides, until when), the forwarder's choice of allotter, and the
// Campaigner's loop over an in-memory election (two candidates; the leader's
// lease expires; the other leads with a higher epoch).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <vector>

#include "allotter_targets.h"
#include "base64.h"
#include "campaigner.h"
#include "etcd_election.h"
#include "leadership.h"
#include "support/test_namespace.h"

namespace sluice::fleet {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000'000'000;

AllotterConfig Config() {
  AllotterConfig c;
  c.listen = "127.0.0.1:0";
  ResourceConfig r;
  r.name = "api";
  r.spec = LimiterSpec::Sliding(100, kS);
  r.lease_ns = 2 * kS;
  r.refresh_ns = 250 * kMs;
  c.resources.push_back(r);
  return c;
}

RefreshIn Req(uint64_t seq, double demand = 50) {
  RefreshIn in;
  in.host_id = "h";
  in.instance = 1;
  in.sequence = seq;
  ResourceIn ri;
  ri.name = "api";
  ri.algorithm = Algorithm::kSliding;
  ri.demand = demand;
  in.resources.push_back(ri);
  return in;
}

TEST(Leadership, OnlyTheLeaderDividesAndOnlyWhileItsLeaseSurelyHolds) {
  Leadership l(Config());
  std::string leader = "x";
  StatusOr<RefreshOut> out = l.Refresh(Req(1), 0, &leader);
  EXPECT_EQ(out.status().code(), Code::kNotHeld);  // nobody led yet
  EXPECT_EQ(leader, "");
  l.Follow("10.0.0.2:7300");
  out = l.Refresh(Req(1), 0, &leader);
  EXPECT_EQ(out.status().code(), Code::kNotHeld);
  EXPECT_EQ(leader, "10.0.0.2:7300");

  // Leads at 10 s; the lease (2 s) was alive at 9.5 s: sure until ~11.5 s.
  l.Lead(1000, 10 * kS, 9500 * kMs, 2 * kS);
  EXPECT_EQ(l.epoch(), 1000u);
  out = l.Refresh(Req(1), 10 * kS, &leader);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->epoch, 1000u);
  EXPECT_TRUE(out->learning);               // a new leader learns, as after a restart
  EXPECT_EQ(out->resources[0].amount, 0u);  // the host reported holding nothing
  EXPECT_TRUE(l.Leading(11400 * kMs));
  // Not renewed: from alive + ttl - drift margin on, it no longer divides
  // (etcd may expire the lease ttl after it received the renewal).
  EXPECT_FALSE(l.Leading(11499 * kMs));
  leader = "x";
  out = l.Refresh(Req(2), 11499 * kMs, &leader);
  EXPECT_EQ(out.status().code(), Code::kNotHeld);
  EXPECT_EQ(leader, "");
  // A renewal sent before the lapse resumes it; one that is older moves nothing.
  l.Renew(11 * kS, 2 * kS);
  EXPECT_TRUE(l.Leading(12 * kS));
  l.Renew(10 * kS, 2 * kS);
  EXPECT_TRUE(l.Leading(12900 * kMs));
  out = l.Refresh(Req(2), 12 * kS, &leader);
  ASSERT_TRUE(out.ok());

  // Deposed: answers point to the new leader; leading again starts afresh.
  l.Follow("10.0.0.3:7300");
  EXPECT_EQ(l.epoch(), 0u);
  out = l.Refresh(Req(3), 12 * kS, &leader);
  EXPECT_EQ(out.status().code(), Code::kNotHeld);
  EXPECT_EQ(leader, "10.0.0.3:7300");
  l.Lead(2000, 20 * kS, 20 * kS, 2 * kS);
  out = l.Refresh(Req(1), 20 * kS, &leader);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->epoch, 2000u);
  EXPECT_TRUE(out->learning);
  // Learning ends after lease + margin + tail; then it divides by demand.
  l.Renew(23 * kS, 2 * kS);
  out = l.Refresh(Req(2), 23100 * kMs, &leader);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->learning);
}

TEST(Leadership, AloneItNeverLapses) {
  Leadership l(Config());
  l.LeadAlone(7, 0);
  std::string leader;
  StatusOr<RefreshOut> out = l.Refresh(Req(1), int64_t{3600} * kS, &leader);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->epoch, 7u);
}

// A reload is judged the same whether this allotter leads or not: a
// standby that took a changed algorithm or a removed resource would start
// dividing by it at its next election, unnoticed.
TEST(Leadership, AStandbyRefusesTheReloadsTheLeaderRefuses) {
  Leadership l(Config());
  l.Follow("10.0.0.2:7300");
  AllotterConfig changed = Config();
  changed.resources[0].spec = LimiterSpec::Gcra(100, kS, 10);
  EXPECT_EQ(l.Reconfigure(changed, 0).code(), Code::kInvalidArgument);
  AllotterConfig removed = Config();
  removed.resources[0].name = "other";
  EXPECT_EQ(l.Reconfigure(removed, 0).code(), Code::kInvalidArgument);
  EXPECT_EQ(l.config().resources.size(), 1u);
  EXPECT_EQ(l.config().resources[0].name, "api");
  EXPECT_EQ(l.config().resources[0].spec.algorithm, Algorithm::kSliding);
  // Once elected it divides by the config it had, not the refused one.
  l.Lead(1000, 10 * kS, 10 * kS, 2 * kS);
  std::string leader;
  StatusOr<RefreshOut> out = l.Refresh(Req(1), 10 * kS, &leader);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_TRUE(out->resources[0].error.empty()) << out->resources[0].error;
  // A valid reload is taken by a standby too (a raised limit).
  AllotterConfig raised = Config();
  raised.resources[0].spec = LimiterSpec::Sliding(150, kS);
  l.Follow("10.0.0.2:7300");
  ASSERT_TRUE(l.Reconfigure(raised, 20 * kS).ok());
  EXPECT_EQ(l.config().resources[0].spec.limit, 150u);
}

// The view's refreshes and refused are Prometheus counters: they never
// move back, whoever leads.
TEST(Leadership, TheViewsCountersNeverMoveBackAcrossLeaderships) {
  Leadership l(Config());
  std::string leader;
  l.Lead(1000, 10 * kS, 10 * kS, 2 * kS);
  ASSERT_TRUE(l.Refresh(Req(2), 10 * kS, &leader).ok());
  RefreshIn bad = Req(1);  // older than the last answered
  EXPECT_EQ(l.Refresh(bad, 10 * kS, &leader).status().code(), Code::kInvalidArgument);
  AllotterView v = l.View(10 * kS);
  EXPECT_EQ(v.refreshes, 1u);
  EXPECT_EQ(v.refused, 1u);
  l.Follow("10.0.0.2:7300");
  v = l.View(11 * kS);
  EXPECT_FALSE(v.leading);
  EXPECT_EQ(v.refreshes, 1u);
  EXPECT_EQ(v.refused, 1u);
  l.Lead(2000, 20 * kS, 20 * kS, 2 * kS);
  ASSERT_TRUE(l.Refresh(Req(1), 20 * kS, &leader).ok());
  v = l.View(20 * kS);
  EXPECT_EQ(v.refreshes, 2u);
  EXPECT_EQ(v.refused, 1u);
}

TEST(AllotterTargets, FollowsTheLeaderNamedAndCyclesOnFailures) {
  AllotterTargets t({"a:1", "b:1", "c:1"});
  EXPECT_EQ(t.current(), "a:1");
  t.Failed();
  EXPECT_EQ(t.current(), "b:1");
  EXPECT_TRUE(t.NotLeader("z:9"));  // an address not listed is followed too
  EXPECT_EQ(t.current(), "z:9");
  t.Answered();
  t.Failed();  // back to the list, where it was
  EXPECT_EQ(t.current(), "c:1");
  EXPECT_FALSE(t.NotLeader(""));  // nobody known: the next, after a pause
  EXPECT_EQ(t.current(), "a:1");
  EXPECT_FALSE(t.NotLeader("a:1"));  // names itself: not believed
  EXPECT_EQ(t.current(), "b:1");
  // Two that name each other cannot keep it spinning.
  int in_a_row = 0, most = 0;
  for (int i = 0; i < 20; ++i) {
    in_a_row = t.NotLeader(i % 2 ? "a:1" : "b:1") ? in_a_row + 1 : 0;
    most = std::max(most, in_a_row);
  }
  EXPECT_LE(most, 4);  // then a pause
  AllotterTargets one({"a:1"});
  one.Failed();
  EXPECT_EQ(one.current(), "a:1");
}

TEST(EtcdElection, Base64AndEndpoints) {
  for (const std::string& s : std::vector<std::string>{
           "", "a", "ab", "abc", "abcd", "sluice-allotter/7f3a", std::string("\0\xff", 2)}) {
    StatusOr<std::string> back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back.ok()) << s;
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(Base64Encode("sluice-test"), "c2x1aWNlLXRlc3Q=");
  EXPECT_FALSE(Base64Decode("abc").ok());
  EXPECT_FALSE(Base64Decode("a*c=").ok());
  StatusOr<std::vector<std::string>> eps =
      EtcdElection::ParseEndpoints("http://127.0.0.1:2379,http://etcd2:2379");
  ASSERT_TRUE(eps.ok());
  EXPECT_EQ(eps->size(), 2u);
  for (const char* bad : {"", "127.0.0.1:2379", "http://h", "http://h:0", "http://h:2379,",
                          "https://h:2379", "http://:2379"}) {
    EXPECT_FALSE(EtcdElection::ParseEndpoints(bad).ok()) << bad;
  }
}

// An election in memory: leases that live until expired by the test, a
// queue of candidates by revision, epochs recorded under the leadership.
class FakeEtcd {
 public:
  std::mutex mu;
  std::condition_variable cv;
  int64_t next = 1;
  std::map<int64_t, bool> leases;                            // id -> alive
  std::map<int64_t, std::pair<int64_t, std::string>> queue;  // rev -> (lease, value)
  uint64_t last_epoch = 0;

  // The first candidate whose lease is alive (queue.end() if none).
  std::map<int64_t, std::pair<int64_t, std::string>>::iterator Head() {
    for (auto it = queue.begin(); it != queue.end();) {
      if (leases[it->second.first]) return it;
      it = queue.erase(it);
    }
    return queue.end();
  }
  void Expire(int64_t lease) {
    std::lock_guard<std::mutex> lock(mu);
    leases[lease] = false;
    cv.notify_all();
  }
};

class FakeElection : public Election {
 public:
  explicit FakeElection(FakeEtcd* e) : e_(e) {}
  StatusOr<int64_t> Grant(int64_t ttl_s, int64_t* granted) override {
    std::lock_guard<std::mutex> lock(e_->mu);
    if (cancelled_) return Status(Code::kCancelled, "");
    *granted = ttl_s;
    e_->leases[e_->next] = true;
    granted_.push_back(e_->next);
    return e_->next++;
  }
  StatusOr<int64_t> KeepAlive(int64_t lease) override {
    std::lock_guard<std::mutex> lock(e_->mu);
    if (!e_->leases[lease]) return Status(Code::kNotFound, "expired");
    return 1;
  }
  StatusOr<LeaderKey> Campaign(int64_t lease, const std::string& value, int64_t ms) override {
    std::unique_lock<std::mutex> lock(e_->mu);
    if (!e_->leases[lease]) return Status(Code::kNotFound, "expired");
    const int64_t rev = e_->next++;
    e_->queue[rev] = {lease, value};
    const bool won = e_->cv.wait_for(lock, std::chrono::milliseconds(ms), [&] {
      return cancelled_ || (e_->Head() != e_->queue.end() && e_->Head()->first == rev);
    });
    if (cancelled_) return Status(Code::kCancelled, "");
    if (!won) {
      e_->queue.erase(rev);
      return Status(Code::kTimeout, "");
    }
    return LeaderKey{"k" + std::to_string(rev), rev, lease};
  }
  StatusOr<std::string> Leader() override {
    std::lock_guard<std::mutex> lock(e_->mu);
    auto h = e_->Head();
    if (h == e_->queue.end()) return Status(Code::kNotFound, "no leader");
    return h->second.second;
  }
  StatusOr<uint64_t> ClaimEpoch(const LeaderKey& key, uint64_t floor) override {
    std::lock_guard<std::mutex> lock(e_->mu);
    auto h = e_->Head();
    if (h == e_->queue.end() || h->first != key.rev) return Status(Code::kNotHeld, "");
    e_->last_epoch = std::max(floor, e_->last_epoch + 1);
    return e_->last_epoch;
  }
  Status Revoke(int64_t lease) override {
    e_->Expire(lease);
    return Status::OK();
  }
  void Cancel() override {
    std::lock_guard<std::mutex> lock(e_->mu);
    cancelled_ = true;
    e_->cv.notify_all();
  }
  std::vector<int64_t> granted() {
    std::lock_guard<std::mutex> lock(e_->mu);
    return granted_;
  }

 private:
  FakeEtcd* e_;
  bool cancelled_ = false;
  std::vector<int64_t> granted_;
};

// What one candidate's Leadership was told, in order.
struct Seen {
  std::mutex mu;
  std::vector<std::string> events;
  uint64_t epoch = 0;
  int leads = 0;
  void Add(const std::string& e) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(e);
  }
  bool Has(const std::string& e) {
    std::lock_guard<std::mutex> lock(mu);
    return std::find(events.begin(), events.end(), e) != events.end();
  }
};

int64_t Monotonic() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<Campaigner> Candidate(FakeElection* e, const std::string& address, Seen* seen) {
  CampaignOptions o;
  o.address = address;
  o.ttl_s = 1;
  o.epoch_floor = [] { return uint64_t{100}; };
  o.clock = Monotonic;
  Campaigner::Events ev;
  ev.lead = [seen](uint64_t epoch, int64_t, int64_t ttl) {
    seen->Add("lead");
    std::lock_guard<std::mutex> lock(seen->mu);
    seen->epoch = epoch;
    ++seen->leads;
    EXPECT_EQ(ttl, kS);
  };
  ev.renew = [seen](int64_t, int64_t) {};
  ev.follow = [seen](const std::string& leader) { seen->Add("follow " + leader); };
  return std::make_unique<Campaigner>(e, o, ev);
}

TEST(Campaigner, TheStandbyLeadsWithAHigherEpochOnceTheLeaderLeaseGoes) {
  FakeEtcd etcd;
  FakeElection ea(&etcd), eb(&etcd);
  Seen a, b;
  auto ca = Candidate(&ea, "a:1", &a);
  ca->Start();
  ASSERT_TRUE(testing::WaitFor([&] { return a.Has("lead"); }, std::chrono::seconds(5)));
  auto cb = Candidate(&eb, "b:1", &b);
  cb->Start();
  // The standby learns the leader's address from its lease keeper (ttl/4).
  ASSERT_TRUE(testing::WaitFor([&] { return b.Has("follow a:1"); }, std::chrono::seconds(5)));
  EXPECT_FALSE(b.Has("lead"));
  const uint64_t first = a.epoch;
  EXPECT_EQ(first, 100u);
  // The leader's lease expires (a partition): it stops leading, the standby leads.
  etcd.Expire(ea.granted().at(0));
  ASSERT_TRUE(testing::WaitFor([&] { return a.Has("follow "); }, std::chrono::seconds(5)));
  ASSERT_TRUE(testing::WaitFor([&] { return b.Has("lead"); }, std::chrono::seconds(5)));
  EXPECT_GT(b.epoch, first);
  // Stopping the leader hands over at once (its lease is revoked).
  ASSERT_TRUE(testing::WaitFor([&] { return a.Has("follow b:1"); }, std::chrono::seconds(5)));
  const auto t0 = std::chrono::steady_clock::now();
  cb->Stop();
  EXPECT_TRUE(b.Has("follow "));
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(a.mu);
        return a.leads == 2;
      },
      std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_GT(a.epoch, b.epoch);
  ca->Stop();
}

}  // namespace
}  // namespace sluice::fleet
