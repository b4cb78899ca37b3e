// How fast shares follow demand: three forwarders over simulated sliding
// hosts, wired straight to one Allotter (no network), in injected time.
// Each host asks at a paced rate and grants as a sliding limiter of the
// amount in force does, and reports `drained_ns` as the library does (the
// grants still in the window after a shrink). The issue's configuration
// (sliding 100 per 1 s, fair, refresh 1 s, lease 5 s); demand 70/20/30 %
// of the limit, then shifted to 20/70/30 %. Checked: the steady phases use
// at least 95 % of the limit, and after the shift the fleet is converged
// (each host within 5 % of the limit of its final share, the margin of the
// 95 % utilisation goal, and staying
// there) within 3 refresh intervals. Never more than the limit in any
// window of the merged grants.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <vector>

#include "allotter.h"
#include "forwarder.h"

namespace sluice::fleet {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kWindow = kS;
constexpr uint64_t kLimit = 100;

// One host's sliding limiter "api", as the library behaves.
class SimHost : public HostLimiters {
 public:
  int64_t now = 0;
  double rate = 0;  // permits asked per second
  int64_t next_ask = 0;
  uint64_t asked = 0;
  std::deque<int64_t> window;   // grants in (now - kWindow, now]
  std::vector<int64_t> grants;  // every grant
  admin::Share share;
  bool has = false;
  int64_t drained = 0;

  uint64_t InForce() const {
    if (!has) return 0;
    if (now < share.expires_ns) return share.amount;
    if (now < share.fallback_until_ns) return share.fallback_amount;
    return 0;
  }
  void Expire() {
    while (!window.empty() && window.front() <= now - kWindow) window.pop_front();
  }
  // Asks due by `now` (paced), each granted if the window has room.
  void Ask() {
    while (rate > 0 && next_ask <= now) {
      ++asked;
      Expire();
      if (window.size() < InForce()) {
        window.push_back(now);
        grants.push_back(now);
      }
      next_ask += static_cast<int64_t>(1e9 / rate);
    }
  }

  int64_t Now() override { return now; }
  StatusOr<LimiterFigures> Read(const std::string&) override {
    LimiterFigures f;
    f.algorithm = Algorithm::kSliding;
    f.has_asked = true;
    f.asked = asked;
    f.in_force = InForce();
    f.share = share;
    f.drained_ns = drained;
    return f;
  }
  Status Publish(const std::string&, const admin::Share& s) override {
    if (has && s.epoch < share.epoch) return Status(Code::kExists, "older epoch");
    const uint64_t before = InForce();
    share = s;
    has = true;
    const uint64_t after = InForce();
    if (after < before) {
      // docs/fleet.md "drained_ns", sliding: once the grants still in the
      // window fit the new amount.
      Expire();
      const int64_t d = window.size() <= after ? now : window[window.size() - after - 1] + kWindow;
      drained = std::max(drained, d);
    }
    return Status::OK();
  }
};

AllotterConfig IssueConfig() {
  ResourceConfig r;
  r.name = "api";
  r.spec = LimiterSpec::Sliding(kLimit, kWindow);
  r.division = Division::kFair;
  r.lease_ns = 5 * kS;
  r.refresh_ns = kS;
  r.reserved = 0;
  AllotterConfig c;
  c.resources.push_back(r);
  return c;
}

struct Outcome {
  size_t busiest = 0;  // grants in the busiest window of the merged log
  double steady_before = 0, steady_after = 0;
  double settled_refreshes = 0;  // from the shift until every host stays settled
};

// The fleet with the shift `offset` into host h0's refresh interval.
Outcome RunFleet(int64_t offset) {
  Outcome o;
  Allotter allotter(IssueConfig(), /*epoch=*/1, /*start_ns=*/0);
  constexpr int kHosts = 3;
  std::vector<SimHost> hosts(kHosts);
  std::vector<std::unique_ptr<Forwarder>> fwds;
  std::vector<int64_t> next_refresh(kHosts);
  for (int i = 0; i < kHosts; ++i) {
    fwds.push_back(std::make_unique<Forwarder>(
        &hosts[i], ForwarderOptions{"h" + std::to_string(i), 1.0, uint64_t(i + 1), {"api"}}));
    next_refresh[i] = i * kS / kHosts;  // spread over the interval
  }
  const double before[kHosts] = {70, 20, 30};
  const double after[kHosts] = {20, 70, 30};
  const uint64_t final_share[kHosts] = {20, 50, 30};  // fair: max-min of 20/70/30
  const int64_t shift = 30 * kS + offset;             // past learning, steady
  const int64_t end = 45 * kS;
  const int64_t step = kMs;
  std::vector<std::vector<uint64_t>> amounts(kHosts);  // per 10 ms
  for (int64_t t = 0; t < end; t += step) {
    for (int i = 0; i < kHosts; ++i) {
      SimHost& h = hosts[i];
      h.now = t;
      h.rate = t < shift ? before[i] : after[i];
      if (t == 0) h.next_ask = i * kMs;
      h.Ask();
      if (t >= next_refresh[i]) {
        const RefreshIn in = fwds[i]->Next();
        StatusOr<RefreshOut> out = allotter.Refresh(in, t);
        EXPECT_TRUE(out.ok()) << out.status().ToString();
        if (!out.ok()) return o;
        const int64_t interval = fwds[i]->Apply(*out);
        next_refresh[i] = fwds[i]->follow_up() ? t + kMs : t + interval;
        if (getenv("TRACE") && getenv("TRACE")[0] == '2' && t >= shift - 2 * kS &&
            (!getenv("TRACE_AT") || atoi(getenv("TRACE_AT")) == offset / kMs)) {
          std::printf(
              "t=%.2f h%d demand=%.1f drained_in=%.2f -> amount %llu (in force %llu)\n",
              (t - shift) / 1e9, i, in.resources[0].demand, in.resources[0].drained_in_ns / 1e9,
              (unsigned long long)out->resources[0].amount, (unsigned long long)hosts[i].InForce());
        }
      }
      if (t % (10 * kMs) == 0) amounts[i].push_back(h.InForce());
    }
  }
  // Never more than the limit in any window of the merged grants.
  std::vector<int64_t> all;
  for (const SimHost& h : hosts) all.insert(all.end(), h.grants.begin(), h.grants.end());
  std::sort(all.begin(), all.end());
  size_t busiest = 0;
  for (size_t i = 0, j = 0; i < all.size(); ++i) {
    while (all[i] - all[j] >= kWindow) ++j;
    busiest = std::max(busiest, i - j + 1);
  }
  o.busiest = busiest;
  // Utilisation of the steady phases (grants per window against the limit).
  auto used = [&](int64_t a, int64_t b) {
    const size_t n =
        std::count_if(all.begin(), all.end(), [&](int64_t x) { return x >= a && x < b; });
    return static_cast<double>(n) / (static_cast<double>(kLimit) * (b - a) / kWindow);
  };
  o.steady_before = used(20 * kS, shift);
  o.steady_after = used(end - 5 * kS, end);
  // Converged: from then on every host within 5 % of the limit (5) of its
  // final share.
  int64_t settled = shift;
  for (size_t k = 0; k < amounts[0].size(); ++k) {
    const int64_t t = static_cast<int64_t>(k) * 10 * kMs;
    if (t < shift) continue;
    for (int i = 0; i < kHosts; ++i) {
      const int64_t d = static_cast<int64_t>(amounts[i][k]) - static_cast<int64_t>(final_share[i]);
      if (std::abs(d) > 5) settled = t + 10 * kMs;
    }
  }
  o.settled_refreshes = static_cast<double>(settled - shift) / kS;
  return o;
}

TEST(Convergence, SkewedDemandUsesTheLimitAndAShiftSettlesWithinThreeRefreshes) {
  double worst = 0;
  for (int64_t offset = 0; offset < kS; offset += 50 * kMs) {
    SCOPED_TRACE("shift " + std::to_string(offset / kMs) + " ms into h0's refresh interval");
    const Outcome o = RunFleet(offset);
    if (getenv("TRACE_AT") && atoi(getenv("TRACE_AT")) != offset / kMs) continue;
    EXPECT_LE(o.busiest, kLimit);
    EXPECT_GE(o.steady_before, 0.95);
    EXPECT_GE(o.steady_after, 0.95);
    EXPECT_LE(o.settled_refreshes, 3.0);
    worst = std::max(worst, o.settled_refreshes);
    if (getenv("TRACE")) {
      std::printf("offset %lld ms: steady %.1f%% / %.1f%%, settled after %.2f refreshes\n",
                  static_cast<long long>(offset / kMs), 100 * o.steady_before, 100 * o.steady_after,
                  o.settled_refreshes);
    }
  }
  std::printf(
      "convergence: settled within %.2f refresh intervals of a demand shift (worst of 20 phases)\n",
      worst);
}

}  // namespace
}  // namespace sluice::fleet
