// The allotter's bookkeeping with injected time: shrink first and grow
// second, lapses, learning mode, epochs, reserved fallbacks, bad input; and
// a randomized fleet (drifting host clocks, lost messages, frozen and killed
// forwarders, allotter restarts) checked at every step against the limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <random>

#include "allotter.h"
#include "sluice/admin/share.h"

namespace sluice::fleet {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000'000'000;

ResourceConfig Sliding(uint64_t limit, uint64_t reserved = 0) {
  ResourceConfig r;
  r.name = "api";
  r.spec = LimiterSpec::Sliding(limit, kS);
  r.division = Division::kFair;
  r.lease_ns = 4 * kS;
  r.refresh_ns = kS;
  r.reserved = reserved;
  r.fallback_for_ns = 2 * kS;
  return r;
}

AllotterConfig Config(ResourceConfig r) {
  AllotterConfig c;
  c.listen = "127.0.0.1:0";
  c.resources.push_back(std::move(r));
  return c;
}

// A request for one resource; the fields a host reports.
struct Report {
  double demand = 0;
  uint64_t in_force = 0;
  uint64_t share = 0;
  int64_t lease_left = 0;
  uint64_t fallback = 0;
  int64_t fallback_left = 0;
  int64_t drained_in = 0;
  uint64_t epoch = 0;
  uint64_t applied = 0;
};

RefreshIn Req(const std::string& host, uint64_t seq, const Report& r, uint64_t instance = 1) {
  RefreshIn in;
  in.host_id = host;
  in.instance = instance;
  in.sequence = seq;
  ResourceIn ri;
  ri.name = "api";
  ri.algorithm = Algorithm::kSliding;
  ri.demand = r.demand;
  ri.in_force = r.in_force;
  ri.share_amount = r.share;
  ri.lease_left_ns = r.lease_left;
  ri.fallback_amount = r.fallback;
  ri.fallback_left_ns = r.fallback_left;
  ri.drained_in_ns = r.drained_in;
  ri.share_epoch = r.epoch;
  ri.applied_sequence = r.applied;
  in.resources.push_back(ri);
  return in;
}

uint64_t Amount(Allotter& a, const RefreshIn& in, int64_t now) {
  StatusOr<RefreshOut> out = a.Refresh(in, now);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (!out.ok()) return ~0ull;
  EXPECT_TRUE(out->resources[0].error.empty()) << out->resources[0].error;
  return out->resources[0].amount;
}

// Time after which a fresh allotter (started at 0) has finished learning.
int64_t LearnEnd(const ResourceConfig& r) {
  int64_t e = Stretch(r.lease_ns) + r.TailNs();
  if (r.reserved > 0) e += Stretch(r.fallback_for_ns);
  return e + 1;
}

TEST(Allotter, LearningGrantsNoMoreThanHeldThenDividesByDemand) {
  Allotter a(Config(Sliding(100)), /*epoch=*/7, /*start_ns=*/0);
  EXPECT_TRUE(a.Learning(0));
  // h1 holds 60 from an earlier run (epoch 5), h2 holds nothing.
  Report held{.demand = 90, .in_force = 60, .share = 60, .lease_left = 2 * kS, .epoch = 5};
  EXPECT_EQ(Amount(a, Req("h1", 1, held), 10 * kMs), 60u);
  EXPECT_EQ(Amount(a, Req("h2", 1, {.demand = 90}), 10 * kMs), 0u);
  // Still learning a second later: no more than held, never more than before.
  EXPECT_EQ(
      Amount(a, Req("h1", 2, {.demand = 90, .in_force = 60, .share = 60, .epoch = 7, .applied = 1}),
             kS),
      50u);  // fair target 50, under the 60 held
  EXPECT_EQ(Amount(a, Req("h2", 2, {.demand = 90, .epoch = 7, .applied = 1}), kS), 0u);
  const int64_t end = LearnEnd(a.config().resources[0]);
  EXPECT_FALSE(a.Learning(end));
  // After learning: h2 grows into what h1's lapsed claims leave.
  int64_t t = end;
  uint64_t seq = 3;
  uint64_t g1 = 0, g2 = 0;
  for (int i = 0; i < 6; ++i, t += kS, ++seq) {
    g1 = Amount(
        a,
        Req("h1", seq, {.demand = 90, .in_force = g1, .share = g1, .epoch = 7, .applied = seq - 1}),
        t);
    g2 = Amount(
        a,
        Req("h2", seq, {.demand = 90, .in_force = g2, .share = g2, .epoch = 7, .applied = seq - 1}),
        t + 10 * kMs);
    EXPECT_LE(a.CommittedShares(0, t + 10 * kMs), 100u);
  }
  EXPECT_EQ(g1, 50u);
  EXPECT_EQ(g2, 50u);
}

// Drives two hosts past learning with the given holdings.
struct TwoHosts {
  Allotter a{Config(Sliding(100)), 9, 0};
  int64_t t = LearnEnd(Sliding(100));
  uint64_t seq = 1;
};

TEST(Allotter, ShrinkFirstGrowSecond) {
  TwoHosts f;
  Allotter& a = f.a;
  int64_t t = f.t;
  // h1 alone wants everything and gets it.
  uint64_t g1 = Amount(a, Req("h1", 1, {.demand = 100}), t);
  EXPECT_EQ(g1, 100u);
  // h2 joins wanting 60: the division says 50/50, but h1 holds 100 until it
  // drains, so h2 gets nothing yet.
  t += kS;
  uint64_t g2 = Amount(a, Req("h2", 1, {.demand = 60}), t);
  EXPECT_EQ(g2, 0u);
  // h1 shrinks to 50; its 100 stays claimed: h2 still cannot grow.
  g1 = Amount(
      a, Req("h1", 2, {.demand = 100, .in_force = 100, .share = 100, .epoch = 9, .applied = 1}), t);
  EXPECT_EQ(g1, 50u);
  EXPECT_EQ(a.CommittedShares(0, t), 100u);
  g2 = Amount(a, Req("h2", 2, {.demand = 60, .epoch = 9, .applied = 1}), t + kMs);
  EXPECT_EQ(g2, 0u);
  // h1 applied the shrink and reports: no longer using more than 50 in 1s.
  t += kS;
  g1 = Amount(
      a,
      Req("h1", 3,
          {.demand = 100, .in_force = 50, .share = 50, .drained_in = kS, .epoch = 9, .applied = 2}),
      t);
  EXPECT_EQ(g1, 50u);
  // Before that drain time, h2 still waits ...
  g2 = Amount(a, Req("h2", 3, {.demand = 60, .epoch = 9, .applied = 2}), t + kS / 2);
  EXPECT_EQ(g2, 0u);
  // ... after it, h2 gets its fair 50.
  g2 = Amount(a, Req("h2", 4, {.demand = 60, .epoch = 9, .applied = 3}), t + Stretch(kS) + kS / 4);
  EXPECT_EQ(g2, 50u);
  EXPECT_EQ(a.CommittedShares(0, t + Stretch(kS) + kS / 4), 100u);
}

TEST(Allotter, ADrainedReportWithoutTheLatestReplyAppliedReleasesNothing) {
  TwoHosts f;
  Allotter& a = f.a;
  int64_t t = f.t;
  EXPECT_EQ(Amount(a, Req("h1", 1, {.demand = 100}), t), 100u);
  t += kS;
  Amount(a, Req("h2", 1, {.demand = 60}), t);
  EXPECT_EQ(Amount(a, Req("h1", 2, {.demand = 100, .epoch = 9, .applied = 1}), t), 50u);
  // The reply to seq 2 was lost: h1 still has seq 1's share (100) published
  // and says "drained now"; that retires nothing.
  t += kS;
  Amount(a,
         Req("h1", 3,
             {.demand = 100,
              .in_force = 100,
              .share = 100,
              .drained_in = 0,
              .epoch = 9,
              .applied = 1}),
         t);
  EXPECT_EQ(a.CommittedShares(0, t + kS / 2), 100u);
  EXPECT_EQ(Amount(a, Req("h2", 2, {.demand = 60, .epoch = 9, .applied = 1}), t + kS / 2), 0u);
}

TEST(Allotter, ASilentHostsShareIsReusedOnlyAfterItsLeaseAndTail) {
  TwoHosts f;
  Allotter& a = f.a;
  const ResourceConfig rc = Sliding(100);
  int64_t t = f.t;
  const uint64_t g1 = Amount(a, Req("h1", 1, {.demand = 100}), t);
  Amount(a, Req("h2", 1, {.demand = 0}), t);
  const int64_t h1_answered = t;
  // h1 goes silent. h2 asks every second for everything.
  uint64_t g2 = 0;
  uint64_t seq = 2;
  for (t += kS; t < h1_answered + 10 * kS; t += kS / 4, ++seq) {
    g2 = Amount(a,
                Req("h2", seq,
                    {.demand = 100, .in_force = g2, .share = g2, .epoch = 9, .applied = seq - 1}),
                t);
    if (t < h1_answered + Stretch(rc.lease_ns) + rc.TailNs()) {
      ASSERT_LE(g2, 100 - g1) << "grew into a share that may still be in use, t=" << t;
    }
  }
  EXPECT_EQ(g2, 100u);
  EXPECT_EQ(a.Hosts(), 1u) << "the silent host is forgotten";
}

TEST(Allotter, FallbacksComeOutOfReservedAndOutliveTheirHost) {
  ResourceConfig rc = Sliding(100, /*reserved=*/20);
  Allotter a(Config(rc), 3, 0);
  int64_t t = LearnEnd(rc);
  StatusOr<RefreshOut> o1 = a.Refresh(Req("h1", 1, {.demand = 100}), t);
  ASSERT_TRUE(o1.ok());
  EXPECT_EQ(o1->resources[0].fallback_amount, 20u);  // the only host
  EXPECT_EQ(o1->resources[0].fallback_for_ns, 2 * kS);
  // The fallback counts inside the share (one stage at a time): the whole
  // limit is the host's.
  EXPECT_EQ(o1->resources[0].amount, 100u);
  EXPECT_EQ(a.CommittedShares(0, t), 100u);
  // h2 joins: reserved is split, but h1's 20 is claimed until h1 refreshes
  // with a smaller fallback and that one's old claim lapses.
  StatusOr<RefreshOut> o2 = a.Refresh(Req("h2", 1, {.demand = 100}), t + kMs);
  ASSERT_TRUE(o2.ok());
  EXPECT_EQ(o2->resources[0].fallback_amount, 0u);
  EXPECT_LE(a.CommittedFallbacks(0, t + kMs), 20u);
  // h1 dies. Its fallback is reserved until lease + fallback_for + tail.
  const int64_t h1_lapse = t + Stretch(rc.lease_ns) + Stretch(rc.fallback_for_ns) + rc.TailNs();
  uint64_t seq = 2;
  uint64_t fb2 = 0;
  for (int64_t now = t + kS; now < h1_lapse + 3 * kS; now += kS / 2, ++seq) {
    StatusOr<RefreshOut> o =
        a.Refresh(Req("h2", seq, {.demand = 100, .epoch = 3, .applied = seq - 1}), now);
    ASSERT_TRUE(o.ok());
    fb2 = o->resources[0].fallback_amount;
    ASSERT_LE(a.CommittedFallbacks(0, now), 20u);
    ASSERT_LE(a.CommittedShares(0, now), 100u);
    if (now < h1_lapse) {
      ASSERT_EQ(fb2, 0u) << now;
    }
  }
  EXPECT_EQ(fb2, 20u);
}

TEST(Allotter, EpochsGrowAndRepliesCarryThem) {
  const uint64_t e1 = NewEpoch();
  const uint64_t e2 = NewEpoch();
  EXPECT_GE(e2, e1);
  EXPECT_GT(e1, uint64_t{1'600'000'000} * 1'000'000);  // microseconds since 1970
  Allotter a(Config(Sliding(10)), e2, 0);
  StatusOr<RefreshOut> o = a.Refresh(Req("h", 1, {}), 0);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->epoch, e2);
  EXPECT_EQ(o->resources[0].epoch, e2);
  EXPECT_TRUE(o->learning);
  EXPECT_EQ(o->resources[0].lease_ns, 4 * kS);
  EXPECT_EQ(o->refresh_ns, kS);
}

TEST(Allotter, BadInputIsRefusedAndHarmless) {
  Allotter a(Config(Sliding(100)), 1, 0);
  const int64_t t = LearnEnd(Sliding(100));
  RefreshIn nan = Req("h", 1, {.demand = std::nan("")});
  EXPECT_EQ(a.Refresh(nan, t).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(a.Refresh(Req("h", 1, {.demand = -1}), t).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(a.Refresh(Req("h", 1, {.demand = 1e300}), t).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(a.Refresh(Req("", 1, {}), t).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(a.Refresh(Req(std::string(256, 'x'), 1, {}), t).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(a.Refresh(Req("h\n", 1, {}), t).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(a.Refresh(Req("h", 0, {}), t).status().code(), Code::kInvalidArgument);
  RefreshIn twice = Req("h", 1, {});
  twice.resources.push_back(twice.resources[0]);
  EXPECT_EQ(a.Refresh(twice, t).status().code(), Code::kInvalidArgument);
  RefreshIn heavy = Req("h", 1, {});
  heavy.weight = -2;
  EXPECT_EQ(a.Refresh(heavy, t).status().code(), Code::kInvalidArgument);

  // Unknown resource and algorithm mismatch: per resource, the rest served.
  RefreshIn mixed = Req("h", 1, {.demand = 10});
  ResourceIn unknown = mixed.resources[0];
  unknown.name = "nope";
  ResourceIn mismatch = mixed.resources[0];
  mismatch.algorithm = Algorithm::kGcra;
  mixed.resources = {unknown, mixed.resources[0]};
  StatusOr<RefreshOut> o = a.Refresh(mixed, t);
  ASSERT_TRUE(o.ok());
  EXPECT_NE(o->resources[0].error.find("unknown resource 'nope'"), std::string::npos);
  EXPECT_TRUE(o->resources[1].error.empty());
  RefreshIn mm = Req("g", 1, {});
  mm.resources[0] = mismatch;
  o = a.Refresh(mm, t);
  ASSERT_TRUE(o.ok());
  EXPECT_NE(o->resources[0].error.find("algorithm mismatch"), std::string::npos);
  EXPECT_EQ(o->resources[0].amount, 0u);

  // The same sequence again: the same reply. An older one: refused.
  StatusOr<RefreshOut> r2 = a.Refresh(Req("h", 2, {.demand = 50}), t + kS);
  StatusOr<RefreshOut> r2again = a.Refresh(Req("h", 2, {.demand = 99}), t + 2 * kS);
  ASSERT_TRUE(r2.ok() && r2again.ok());
  EXPECT_EQ(r2->resources[0].amount, r2again->resources[0].amount);
  EXPECT_EQ(a.Refresh(Req("h", 1, {}), t + 2 * kS).status().code(), Code::kInvalidArgument);

  // A second live forwarder claiming "h" is refused; once the first has
  // been silent for two refresh intervals, a new instance takes over.
  EXPECT_EQ(a.Refresh(Req("h", 1, {}, /*instance=*/2), t + 2 * kS).status().code(), Code::kExists);
  EXPECT_TRUE(a.Refresh(Req("h", 1, {}, /*instance=*/2), t + 5 * kS).ok());
}

TEST(Allotter, GcraSharesAreWholeGranulesWithProportionalBursts) {
  ResourceConfig rc;
  rc.name = "api";
  rc.spec = LimiterSpec::Gcra(/*rate=*/100, kS, /*burst=*/20);  // granule 5
  rc.lease_ns = 4 * kS;
  rc.refresh_ns = kS;
  Allotter a(Config(rc), 1, 0);
  const int64_t t = LearnEnd(rc);
  uint64_t rates = 0, bursts = 0;
  for (int h = 0; h < 3; ++h) {
    RefreshIn in = Req("h" + std::to_string(h), 1, {.demand = 100});
    in.resources[0].algorithm = Algorithm::kGcra;
    StatusOr<RefreshOut> o = a.Refresh(in, t);
    ASSERT_TRUE(o.ok());
    const ResourceOut& r = o->resources[0];
    ASSERT_TRUE(r.error.empty()) << r.error;
    EXPECT_EQ(r.amount % 5, 0u) << r.amount;
    EXPECT_EQ(r.burst, r.amount / 5);
    rates += r.amount;
    bursts += r.burst;
  }
  EXPECT_LE(rates, 100u);
  EXPECT_LE(bursts, 20u);
  EXPECT_GE(rates, 90u);
}

TEST(Allotter, ReconfigureLowersShrinkingFirstAndRaisesAtOnce) {
  TwoHosts f;
  Allotter& a = f.a;
  int64_t t = f.t;
  uint64_t seq = 0;
  uint64_t g[2] = {0, 0};
  // One refresh of both hosts (wanting 100 each) that applied the last
  // reply and report it drained (`drained`) or not.
  auto round = [&](bool drained) {
    ++seq;
    for (int i = 0; i < 2; ++i) {
      Report r{.demand = 100, .in_force = g[i], .share = g[i], .epoch = 9, .applied = seq - 1};
      r.drained_in = drained ? 0 : 10 * kS;
      g[i] = Amount(a, Req("h" + std::to_string(i), seq, r), t);
    }
  };
  for (int i = 0; i < 6; ++i, t += kS) round(true);
  ASSERT_EQ(g[0], 50u);
  ASSERT_EQ(g[1], 50u);
  // Lowered to 60: each host is cut at once, the old shares stay claimed.
  ASSERT_TRUE(a.Reconfigure(Config(Sliding(60)), t).ok());
  EXPECT_EQ(a.config().resources[0].Amount(), 60u);
  round(false);
  EXPECT_LE(g[0] + g[1], 60u);
  EXPECT_LT(g[0], 50u);
  EXPECT_EQ(a.CommittedShares(0, t), 100u) << "the old shares count until they drain";
  // While the hosts have not drained, nobody grows back: still cut.
  t += kS;
  round(false);
  EXPECT_LE(g[0] + g[1], 60u);
  EXPECT_EQ(a.CommittedShares(0, t), 100u);
  // Once both report drained, the fleet is committed to no more than 60
  // and both grow back to their fair 30.
  for (int i = 0; i < 4; ++i, t += kS) {
    round(true);
    EXPECT_LE(a.CommittedShares(0, t), 100u);
  }
  EXPECT_LE(a.CommittedShares(0, t + Stretch(0)), 60u);
  EXPECT_EQ(g[0], 30u);
  EXPECT_EQ(g[1], 30u);
  // Raised to 150: both grow at their next refresh.
  ASSERT_TRUE(a.Reconfigure(Config(Sliding(150)), t).ok());
  round(true);
  EXPECT_EQ(g[0], 75u);
  EXPECT_EQ(g[1], 75u);
  EXPECT_LE(a.CommittedShares(0, t), 150u);
}

TEST(Allotter, ReconfigureRefusesAChangedAlgorithmOrARemovedResourceAndKeepsTheOld) {
  TwoHosts f;
  Allotter& a = f.a;
  ResourceConfig g;
  g.name = "api";
  g.spec = LimiterSpec::Gcra(100, kS, 10);
  AllotterConfig bad = Config(g);
  bad.source = "new.toml";
  Status s = a.Reconfigure(bad, f.t);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("new.toml: resource 'api' changed its algorithm from sliding to gcra"),
            std::string::npos)
      << s.message();
  EXPECT_EQ(a.config().resources[0].spec.algorithm, Algorithm::kSliding);
  ResourceConfig other = Sliding(10);
  other.name = "other";
  s = a.Reconfigure(Config(other), f.t);
  EXPECT_NE(s.message().find("resource 'api' was removed"), std::string::npos) << s.message();
  EXPECT_EQ(a.config().resources.size(), 1u);
  // Adding one is fine; the old keeps its place and is still served.
  AllotterConfig both = Config(Sliding(100));
  both.resources.insert(both.resources.begin(), other);
  ASSERT_TRUE(a.Reconfigure(both, f.t).ok());
  EXPECT_EQ(a.config().resources[0].name, "api");
  EXPECT_EQ(a.config().resources[1].name, "other");
  EXPECT_EQ(Amount(a, Req("h1", 1, {.demand = 100}), f.t), 100u);
}

// ---- randomized fleet -------------------------------------------------------

// A host as the library and the forwarder behave: its own drifting clock,
// shares published at receipt with expiry counted from the send.
struct SimHost {
  std::string id;
  double drift = 0;  // host clock rate - 1
  int64_t offset = 0;
  double demand = 0;
  uint64_t instance = 1;
  uint64_t seq = 0;
  uint64_t applied_seq = 0;
  int64_t applied_expires = 0;
  // Publishes: real time, share (host clock times).
  std::vector<std::pair<int64_t, admin::Share>> pubs;
  // Forwarder state.
  bool in_flight = false;
  int64_t next_send = 0;  // real
  int tries = 0;
  RefreshIn req;
  int64_t sent_host = 0;
  int64_t deadline = 0;  // real
  int64_t frozen_until = 0;

  int64_t H(int64_t real) const { return offset + real + static_cast<int64_t>(real * drift); }
  int64_t Real(int64_t host) const {
    if (host >= admin::kForever / 2) return admin::kForever / 2;
    return static_cast<int64_t>(static_cast<long double>(host - offset) / (1.0L + drift));
  }
  // The amount in force at real time t.
  uint64_t At(int64_t t) const {
    const admin::Share* s = nullptr;
    for (const auto& [pt, sh] : pubs) {
      if (pt <= t) s = &sh;
    }
    if (!s) return 0;
    const int64_t h = H(t);
    if (h < s->expires_ns) return s->amount;
    if (h < s->fallback_until_ns) return s->fallback_amount;
    return 0;
  }
  // Times in (a, b] where the amount in force may change.
  std::vector<int64_t> Breaks(int64_t a, int64_t b) const {
    std::vector<int64_t> v;
    for (const auto& [pt, sh] : pubs) {
      for (int64_t x : {pt, Real(sh.expires_ns), Real(sh.fallback_until_ns)}) {
        for (int64_t y : {x - 1, x, x + 1}) {
          if (y > a && y <= b) v.push_back(y);
        }
      }
    }
    return v;
  }
  // What a sliding limiter of window w may be using at t: the largest amount
  // in force during [t - w, t].
  uint64_t Using(int64_t t, int64_t w) const {
    uint64_t m = At(t - w);
    for (int64_t x : Breaks(t - w, t)) m = std::max(m, At(x));
    return m;
  }
  // When it stops using more than now's amount (real time).
  int64_t DrainedReal(int64_t t, int64_t w) const {
    const uint64_t now = At(t);
    int64_t last = -1;
    std::vector<int64_t> pts = Breaks(t - w - 1, t);
    pts.push_back(t - w);
    for (int64_t x : pts) {
      if (At(x) > now) last = std::max(last, x);
    }
    return last < 0 ? t : last + w + 1;
  }
};

constexpr uint64_t kSeeds = 100;  // FLEET_SEED=N runs N..100 (or N alone)

// With `changes`, the limit is reconfigured now and then (40..130): the
// fleet may use no more than the largest limit in force during the last
// lease + fallback_for + tail (what claims made before a change can last).
void SimulateFleet(bool changes) {
  const uint64_t first =
      getenv("FLEET_SEED") ? std::strtoull(getenv("FLEET_SEED"), nullptr, 10) : 1;
  for (uint64_t seed = first; seed <= std::max(first, kSeeds); ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    auto uni = [&](int64_t lo, int64_t hi) {
      return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
    };
    ResourceConfig rc = Sliding(100, seed % 2 ? 10 : 0);
    rc.lease_ns = 2 * kS;
    rc.refresh_ns = 500 * kMs;
    rc.fallback_for_ns = kS;
    rc.division = static_cast<Division>(seed % 3);
    const int64_t w = rc.spec.window_ns;
    // Network delay: mostly short, sometimes past the forwarder's deadline.
    const int64_t slow = seed % 4 == 0 ? 700 : 60;
    auto Delay = [&] { return uni(0, slow) * kMs; };
    const double a_drift = (static_cast<double>(uni(-200, 200))) * 1e-6;
    auto A = [&](int64_t t) { return 5 * kS + t + static_cast<int64_t>(t * a_drift); };
    uint64_t epoch = 100;
    auto allotter = std::make_unique<Allotter>(Config(rc), epoch, A(0));
    std::vector<std::pair<int64_t, uint64_t>> limits = {{0, rc.Amount()}};  // (since, limit)
    const int64_t transition =
        Stretch(rc.lease_ns) + Stretch(rc.fallback_for_ns) + rc.TailNs() + 50 * kMs;
    auto Allowed = [&](int64_t t) {
      uint64_t m = 0;
      for (size_t i = 0; i < limits.size(); ++i) {
        const int64_t until = i + 1 < limits.size() ? limits[i + 1].first + transition : t;
        if (until >= t) m = std::max(m, limits[i].second);
      }
      return m;
    };
    int64_t allotter_down_until = 0;
    std::vector<SimHost> hosts(5);
    for (size_t i = 0; i < hosts.size(); ++i) {
      hosts[i].id = "h" + std::to_string(i);
      hosts[i].drift = static_cast<double>(uni(-200, 200)) * 1e-6;
      hosts[i].offset = uni(0, 1000) * kS;
      hosts[i].demand = static_cast<double>(uni(0, 80));
      hosts[i].next_send = uni(0, 500) * kMs;
    }
    struct Msg {
      int64_t at;
      size_t host;
      bool reply;
      RefreshIn req;
      RefreshOut out;
    };
    std::vector<Msg> net;
    const int64_t step = 5 * kMs;
    double used_sum = 0;
    int used_n = 0;
    for (int64_t t = 0; t < 60 * kS; t += step) {
      // Events: demand shifts, freezes, kills, allotter restarts.
      if (rng() % 400 == 0) hosts[rng() % hosts.size()].demand = static_cast<double>(uni(0, 90));
      if (rng() % 1500 == 0) hosts[rng() % hosts.size()].frozen_until = t + uni(1, 5000) * kMs;
      if (rng() % 2000 == 0) {  // a forwarder dies and a new one starts later
        SimHost& h = hosts[rng() % hosts.size()];
        h.instance += 1;
        h.seq = 0;
        h.applied_seq = 0;
        h.in_flight = false;
        h.next_send = t + uni(0, 3000) * kMs;
      }
      if (rng() % 3000 == 0) {  // allotter killed; restarts later with a higher epoch
        allotter_down_until = t + uni(0, 2000) * kMs;
        allotter.reset();
      }
      if (changes && rng() % 600 == 0) {  // the operator edits the limit (SIGHUP)
        const uint64_t limit = 40 + 30 * (rng() % 4);
        rc.spec = LimiterSpec::Sliding(limit, w);
        limits.push_back({t, limit});
        if (allotter) {
          Status st = allotter->Reconfigure(Config(rc), A(t));
          ASSERT_TRUE(st.ok()) << st.ToString();
        }
      }
      if (!allotter && t >= allotter_down_until) {
        allotter = std::make_unique<Allotter>(Config(rc), ++epoch, A(t));
      }
      // Deliver messages due.
      std::vector<Msg> later;
      for (Msg& m : net) {
        if (m.at > t) {
          later.push_back(std::move(m));
          continue;
        }
        SimHost& h = hosts[m.host];
        if (!m.reply) {
          if (!allotter) continue;  // down: lost
          StatusOr<RefreshOut> out = allotter->Refresh(m.req, A(t));
          if (getenv("FLEET_TRACE") && out.ok()) {
            const ResourceIn& q = m.req.resources[0];
            fprintf(stderr,
                    "t=%lld ep=%llu %s seq=%llu share=%llu inforce=%llu lease_left=%lld "
                    "ep=%llu applied=%llu drained_in=%lld -> %llu learning=%d\n",
                    (long long)(t / kMs), (unsigned long long)allotter->epoch(),
                    m.req.host_id.c_str(), (unsigned long long)m.req.sequence,
                    (unsigned long long)q.share_amount, (unsigned long long)q.in_force,
                    (long long)(q.lease_left_ns / kMs), (unsigned long long)q.share_epoch,
                    (unsigned long long)q.applied_sequence, (long long)(q.drained_in_ns / kMs),
                    (unsigned long long)out->resources[0].amount, (int)out->learning);
          }
          if (!out.ok()) continue;
          if (rng() % 10 == 0) continue;  // reply lost
          later.push_back({t + Delay(), m.host, true, m.req, *out});
          continue;
        }
        // A reply reaches only the call that asked for it (gRPC).
        if (!h.in_flight || h.frozen_until > t || t > h.deadline) continue;
        if (m.req.instance != h.instance || m.req.sequence != h.req.sequence) continue;
        if (m.out.epoch == 0) continue;
        // Applied as the forwarder does.
        for (const ResourceOut& ro : m.out.resources) {
          if (!ro.error.empty()) continue;
          admin::Share s;
          s.amount = ro.amount;
          s.expires_ns = h.sent_host + Shrink(ro.lease_ns);
          s.fallback_amount = ro.fallback_amount;
          s.fallback_until_ns =
              s.expires_ns + (ro.fallback_amount ? Shrink(ro.fallback_for_ns) : 0);
          s.epoch = ro.epoch;
          if (!h.pubs.empty() && s.epoch < h.pubs.back().second.epoch) continue;  // refused
          h.pubs.emplace_back(t, s);
          h.applied_seq = h.req.sequence;
          h.applied_expires = s.expires_ns;
        }
        h.in_flight = false;
        h.tries = 0;
        h.next_send = h.Real(h.sent_host + m.out.refresh_ns);
      }
      net.swap(later);
      // Forwarders send.
      for (size_t i = 0; i < hosts.size(); ++i) {
        SimHost& h = hosts[i];
        if (h.frozen_until > t) continue;
        if (h.in_flight && t > h.deadline) {  // timed out: retry, then afresh
          h.in_flight = false;
          h.next_send = t + rc.refresh_ns / 4;
          if (++h.tries >= 3) h.tries = 0;
        }
        if (h.in_flight || t < h.next_send) continue;
        if (h.tries == 0) {
          // A new request, read from the host now.
          const int64_t hn = h.H(t);
          RefreshIn in;
          in.host_id = h.id;
          in.instance = h.instance;
          in.sequence = ++h.seq;
          ResourceIn r;
          r.name = "api";
          r.algorithm = Algorithm::kSliding;
          r.demand = h.demand;
          r.in_force = h.At(t);
          if (!h.pubs.empty()) {
            const admin::Share& s = h.pubs.back().second;
            r.share_amount = s.amount;
            r.lease_left_ns = s.expires_ns - hn;
            r.fallback_amount = s.fallback_amount;
            r.fallback_left_ns = s.fallback_until_ns - hn;
            r.share_epoch = s.epoch;
            if (h.applied_seq && s.expires_ns == h.applied_expires) {
              r.applied_sequence = h.applied_seq;
            }
          }
          r.drained_in_ns = static_cast<int64_t>((h.DrainedReal(t, w) - t) * (1 + h.drift));
          in.resources.push_back(r);
          h.req = in;
          h.sent_host = hn;
        }
        h.in_flight = true;
        h.deadline = t + kS;
        h.req.age_ns = h.H(t) - h.sent_host;
        if (rng() % 10 != 0) net.push_back({t + Delay(), i, false, h.req, {}});
      }
      // The fleet guarantee, at this instant.
      uint64_t using_now = 0, in_force = 0;
      for (const SimHost& h : hosts) {
        using_now += h.Using(t, w);
        in_force += h.At(t);
      }
      if (using_now > Allowed(t)) {
        std::string why;
        for (const SimHost& h : hosts) {
          why += h.id + " using " + std::to_string(h.Using(t, w)) + " in force " +
                 std::to_string(h.At(t)) + "; publishes:";
          for (const auto& [pt, sh] : h.pubs) {
            why += " [at " + std::to_string(pt / kMs) + "ms " + std::to_string(sh.amount) +
                   " until " + std::to_string(h.Real(sh.expires_ns) / kMs) + "ms, epoch " +
                   std::to_string(sh.epoch) + "]";
          }
          why += "\n";
        }
        FAIL() << "t=" << t << ": the fleet may be using " << using_now << "\n"
               << why << (allotter ? allotter->Describe(0, A(t)) : "");
      }
      if (allotter && !allotter->Learning(A(t))) {
        ASSERT_LE(allotter->CommittedShares(0, A(t)), Allowed(t)) << "t=" << t << "\n"
                                                                  << allotter->Describe(0, A(t));
        ASSERT_LE(allotter->CommittedFallbacks(0, A(t)), rc.reserved) << "t=" << t;
      }
      used_sum += static_cast<double>(in_force);
      ++used_n;
      // Keep the publish logs short.
      for (SimHost& h : hosts) {
        while (h.pubs.size() > 2 && h.pubs[1].first < t - 4 * w &&
               h.Real(h.pubs[0].second.fallback_until_ns) < t - 2 * w) {
          h.pubs.erase(h.pubs.begin());
        }
      }
    }
    // Not vacuous: the fleet got real capacity most of the time.
    EXPECT_GT(used_sum / used_n, 0.15 * (changes ? 40.0 : static_cast<double>(rc.Amount())));
  }
}

TEST(Allotter, RandomizedFleetNeverExceedsTheLimit) { SimulateFleet(false); }

TEST(Allotter, RandomizedFleetNeverExceedsTheLimitWhileTheLimitChanges) { SimulateFleet(true); }

}  // namespace
}  // namespace sluice::fleet
