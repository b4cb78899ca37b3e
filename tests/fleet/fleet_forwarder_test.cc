// The forwarder's refresh logic over a fake host, wired straight to an
// in-process Allotter (no network): what it reports, what it publishes, and
// that leases count from the first send.
#include <gtest/gtest.h>

#include <map>

#include "allotter.h"
#include "forwarder.h"

namespace sluice::fleet {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000'000'000;

// A host whose global limiters behave as share.h says: the share until
// expires_ns, then the fallback, then 0; drained one window after a shrink.
class FakeHost : public HostLimiters {
 public:
  int64_t now = 1000 * kS;
  struct Lim {
    double demand = 0;
    admin::Share share;
    bool has = false;
    int64_t shrunk_at = -kS * 100;
  };
  std::map<std::string, Lim> lims;
  int publishes = 0;

  int64_t Now() override { return now; }
  uint64_t InForce(const Lim& l) const {
    if (!l.has) return 0;
    if (now < l.share.expires_ns) return l.share.amount;
    if (now < l.share.fallback_until_ns) return l.share.fallback_amount;
    return 0;
  }
  StatusOr<LimiterFigures> Read(const std::string& name) override {
    auto it = lims.find(name);
    if (it == lims.end()) return Status(Code::kNotFound, "no limiter " + name);
    LimiterFigures f;
    f.algorithm = Algorithm::kSliding;
    f.demand = it->second.demand;
    f.in_force = InForce(it->second);
    f.share = it->second.share;
    f.drained_ns = it->second.shrunk_at + kS;
    return f;
  }
  Status Publish(const std::string& name, const admin::Share& s) override {
    Lim& l = lims[name];
    if (l.has && s.epoch < l.share.epoch) return Status(Code::kExists, "older epoch");
    if (l.has && s.amount < InForce(l)) l.shrunk_at = now;
    l.share = s;
    l.has = true;
    ++publishes;
    return Status::OK();
  }
};

AllotterConfig Config() {
  ResourceConfig r;
  r.name = "api";
  r.spec = LimiterSpec::Sliding(100, kS);
  r.lease_ns = 4 * kS;
  r.refresh_ns = kS;
  r.reserved = 10;
  r.fallback_for_ns = 2 * kS;
  AllotterConfig c;
  c.resources.push_back(r);
  return c;
}

TEST(Forwarder, ReportsPublishesAndCountsLeasesFromTheFirstSend) {
  FakeHost host;
  host.lims["api"].demand = 500;
  std::vector<std::string> log;
  Forwarder fwd(&host, {"h1", 1.0, 42, {"api", "missing"}},
                [&](const std::string& l) { log.push_back(l); });
  // Allotter clock: its own origin.
  Allotter a(Config(), 77, 0);
  int64_t at = 0;
  RefreshIn in = fwd.Next();
  EXPECT_EQ(in.host_id, "h1");
  EXPECT_EQ(in.instance, 42u);
  EXPECT_EQ(in.sequence, 1u);
  ASSERT_EQ(in.resources.size(), 1u);  // "missing" left out, and logged
  EXPECT_EQ(log.size(), 1u);
  EXPECT_EQ(in.resources[0].demand, 500);
  EXPECT_EQ(in.resources[0].share_epoch, 0u);
  const int64_t first_send = host.now;
  // The request is lost; the retry goes out 300 ms later with the same
  // sequence and send time.
  host.now += 300 * kMs;
  EXPECT_EQ(fwd.current().sequence, 1u);
  EXPECT_EQ(fwd.sent_ns(), first_send);
  StatusOr<RefreshOut> out = a.Refresh(fwd.current(), at);
  ASSERT_TRUE(out.ok());
  host.now += 20 * kMs;
  EXPECT_EQ(fwd.Apply(*out), kS);
  const FakeHost::Lim& l = host.lims["api"];
  ASSERT_TRUE(l.has);
  EXPECT_EQ(l.share.epoch, 77u);
  EXPECT_EQ(l.share.expires_ns, first_send + Shrink(4 * kS));
  EXPECT_EQ(l.share.fallback_until_ns, l.share.expires_ns);  // no fallback yet
  EXPECT_EQ(l.share.amount, 0u);                             // learning: held nothing before
  // Past learning the host gets everything but the reserve, and reports the
  // applied reply.
  uint64_t amount = 0;
  for (int i = 0; i < 12; ++i) {
    host.now += kS;
    at += kS;
    in = fwd.Next();
    out = a.Refresh(in, at);
    ASSERT_TRUE(out.ok());
    fwd.Apply(*out);
    amount = host.lims["api"].share.amount;
  }
  EXPECT_EQ(in.resources[0].applied_sequence, in.sequence - 1);
  EXPECT_EQ(in.resources[0].share_epoch, 77u);
  EXPECT_GT(in.resources[0].lease_left_ns, 0);
  EXPECT_EQ(amount, 100u);  // the whole limit: the fallback counts inside the share
  EXPECT_EQ(host.lims["api"].share.fallback_amount, 10u);
  EXPECT_EQ(host.lims["api"].share.fallback_until_ns,
            host.lims["api"].share.expires_ns + Shrink(2 * kS));
  EXPECT_EQ(host.lims["api"].share.expires_ns, fwd.sent_ns() + Shrink(4 * kS));
  // A stale allotter (lower epoch) is refused by the host: logged, nothing
  // published, and the next report does not claim that reply applied.
  Allotter old(Config(), 5, 0);
  host.now += kS;
  in = fwd.Next();
  out = old.Refresh(in, 100 * kS);
  ASSERT_TRUE(out.ok());
  const int before = host.publishes;
  fwd.Apply(*out);
  EXPECT_EQ(host.publishes, before);
  EXPECT_NE(log.back().find("cannot publish api"), std::string::npos) << log.back();
  host.now += kS;
  in = fwd.Next();
  EXPECT_EQ(in.resources[0].applied_sequence, in.sequence - 2);
}

TEST(Forwarder, ALapsedShareIsReportedAsSuch) {
  FakeHost host;
  Forwarder fwd(&host, {"h1", 2.0, 1, {"api"}});
  FakeHost::Lim& l = host.lims["api"];
  l.has = true;
  l.share.amount = 30;
  l.share.expires_ns = host.now - kS;
  l.share.fallback_amount = 5;
  l.share.fallback_until_ns = host.now + kS;
  l.share.epoch = 3;
  RefreshIn in = fwd.Next();
  EXPECT_EQ(in.weight, 2.0);
  EXPECT_EQ(in.resources[0].in_force, 5u);
  EXPECT_EQ(in.resources[0].share_amount, 30u);
  EXPECT_EQ(in.resources[0].lease_left_ns, -kS);
  EXPECT_EQ(in.resources[0].fallback_left_ns, kS);
  EXPECT_EQ(in.resources[0].applied_sequence, 0u);  // not this instance's
}

}  // namespace
}  // namespace sluice::fleet
