#include "forwarder.h"

#include <algorithm>

namespace sluice::fleet {

namespace {

// t - now, kept clear of overflow (kForever stays "very long").
int64_t Until(int64_t t, int64_t now) {
  if (t == admin::kForever) return kMaxDurationNs;
  return std::clamp<int64_t>(t - now, -kMaxDurationNs, kMaxDurationNs);
}

// Demand is measured over about one second of the host's asked counter: a
// paced 20 per second then reads 20 +- 1, not the 10-30 of a 100 ms figure,
// so that the allotter's smoothing has little noise to smooth.
constexpr int64_t kDemandSpanNs = 1'000'000'000;
constexpr int64_t kDemandMinSpanNs = 200'000'000;

}  // namespace

Forwarder::Forwarder(HostLimiters* host, ForwarderOptions options, Logger log)
    : host_(host), options_(std::move(options)), log_(std::move(log)) {}

void Forwarder::Log(const std::string& line) {
  if (log_) log_(line);
}

RefreshIn Forwarder::Next() {
  RefreshIn in;
  in.host_id = options_.host_id;
  in.instance = options_.instance;
  in.sequence = ++sequence_;
  in.weight = options_.weight;
  const int64_t now = host_->Now();
  for (const std::string& name : options_.limiters) {
    StatusOr<LimiterFigures> f = host_->Read(name);
    if (!f.ok()) {
      std::string& last = last_error_[name];
      if (last != f.status().ToString()) {
        last = f.status().ToString();
        Log("cannot read " + name + ": " + last);
      }
      continue;
    }
    ResourceIn r;
    r.name = name;
    r.algorithm = f->algorithm;
    r.demand = Demand(name, *f, now);
    r.in_force = f->in_force;
    r.share_amount = f->share.amount;
    r.lease_left_ns = Until(f->share.expires_ns, now);
    r.fallback_amount = f->share.fallback_amount;
    r.fallback_left_ns = Until(f->share.fallback_until_ns, now);
    r.drained_in_ns = Until(f->drained_ns, now);
    r.share_epoch = f->share.epoch;
    r.cap = f->cap;
    auto it = applied_.find(name);
    if (it != applied_.end() && it->second.epoch == f->share.epoch &&
        it->second.expires_ns == f->share.expires_ns) {
      r.applied_sequence = it->second.sequence;
    }
    in.resources.push_back(std::move(r));
  }
  current_ = in;
  sent_ns_ = now;
  return in;
}

double Forwarder::Demand(const std::string& name, const LimiterFigures& f, int64_t now) {
  if (!f.has_asked) return f.demand;
  std::deque<Sample>& q = asked_[name];
  if (!q.empty() && (f.asked < q.back().asked || now <= q.back().at_ns)) q.clear();  // reset
  q.push_back({now, f.asked});
  // Keep the newest sample at least kDemandSpanNs old, and nothing older.
  while (q.size() > 2 && now - q[1].at_ns >= kDemandSpanNs) q.pop_front();
  const Sample& old = q.front();
  if (now - old.at_ns < kDemandMinSpanNs) return f.demand;
  return static_cast<double>(f.asked - old.asked) * 1e9 / static_cast<double>(now - old.at_ns);
}

int64_t Forwarder::Apply(const RefreshOut& reply) {
  follow_up_ = false;
  if (reply.epoch != epoch_) {
    Log("allotter epoch " + std::to_string(reply.epoch) + (reply.learning ? " (learning)" : ""));
    epoch_ = reply.epoch;
  }
  for (const ResourceOut& ro : reply.resources) {
    std::string& last = last_error_[ro.name];
    if (!ro.error.empty()) {
      if (last != ro.error) Log("allotter refused " + ro.name + ": " + ro.error);
      last = ro.error;
      continue;
    }
    admin::Share s;
    s.amount = ro.amount;
    s.burst = ro.burst;
    s.expires_ns = sent_ns_ + Shrink(ro.lease_ns);
    s.fallback_amount = ro.fallback_amount;
    s.fallback_burst = ro.fallback_burst;
    s.fallback_until_ns = s.expires_ns;
    if (ro.fallback_amount > 0)
      s.fallback_until_ns += std::max<int64_t>(Shrink(ro.fallback_for_ns), 0);
    s.epoch = ro.epoch;
    const Status st = host_->Publish(ro.name, s);
    if (!st.ok()) {
      if (last != st.ToString()) Log("cannot publish " + ro.name + ": " + st.ToString());
      last = st.ToString();
      continue;
    }
    if (!last.empty()) Log(ro.name + ": publishing again");
    last.clear();
    applied_[ro.name] = Applied{current_.sequence, s.epoch, s.expires_ns};
    // A cut the host had already drained: report it at once.
    for (const ResourceIn& sent : current_.resources) {
      if (sent.name != ro.name || ro.amount >= sent.in_force) continue;
      StatusOr<LimiterFigures> f = host_->Read(ro.name);
      if (f.ok() && f->drained_ns <= host_->Now()) follow_up_ = true;
    }
  }
  return reply.refresh_ns;
}

}  // namespace sluice::fleet
