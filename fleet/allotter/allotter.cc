#include "allotter.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "division.h"

namespace sluice::fleet {

int64_t Stretch(int64_t d) { return d + d / 1'000'000 * kDriftPpm + kMarginNs; }
int64_t Shrink(int64_t d) { return d - d / 1'000'000 * kDriftPpm - kMarginNs; }

uint64_t NewEpoch() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

// One host's standing on one resource.
struct Allotter::Held {
  Host* host = nullptr;
  size_t resource = 0;
  uint64_t share = 0;  // the current grant, and how long it counts
  int64_t share_until = 0;
  uint64_t fallback = 0;
  int64_t fallback_until = 0;
  std::vector<Claim> past_share;  // superseded larger amounts
  std::vector<Claim> past_fallback;
  double want = 0;  // smoothed, in amount units
  bool has_want = false;
  double last_raw = 0;  // the last measurement that moved `want`, and when
  int64_t last_raw_ns = 0;
  uint64_t cap = 0;
  uint64_t target = 0;  // from the last division
  uint64_t fallback_target = 0;
  uint64_t reply_seq = 0;  // sequence of the reply that set `share`
  int64_t seen_ns = 0;
  bool learned = false;  // reported an earlier epoch's holdings
  uint64_t learn_share_cap = 0;
  uint64_t learn_fallback_cap = 0;
  uint64_t c_share = 0;  // commitments as last counted into the pool sums
  uint64_t c_fallback = 0;
};

struct Allotter::Host {
  std::string id;
  uint64_t instance = 0;
  uint64_t last_seq = 0;
  int64_t last_seen = 0;
  double weight = 1;
  bool has_cached = false;
  RefreshOut cached;
  std::vector<std::unique_ptr<Held>> held;  // per resource index (null: never reported)
};

struct Allotter::Pool {
  std::vector<Held*> helds;
  uint64_t sum_share = 0;  // >= the exact Σ (invariant 2)
  uint64_t sum_fallback = 0;
  int64_t next_divide = 0;
  bool dirty = true;
  int64_t learn_end = 0;
};

namespace {

// The amount unit's length: want = demand (per second) * this.
double UnitSeconds(const ResourceConfig& rc) {
  switch (rc.spec.algorithm) {
    case Algorithm::kGcra:
      return static_cast<double>(rc.spec.period_ns) / 1e9;
    case Algorithm::kWindow:
    case Algorithm::kSliding:
      return static_cast<double>(rc.spec.window_ns) / 1e9;
    case Algorithm::kLease:
      return static_cast<double>(rc.spec.ttl_ns) / 1e9;
  }
  return 1;
}

bool Printable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

int64_t Positive(int64_t v) { return v > 0 ? v : 0; }

// How long after a start every grant of an earlier run has lapsed and
// drained (invariant 3).
int64_t LearnNs(const ResourceConfig& rc) {
  int64_t d = Stretch(rc.lease_ns) + rc.TailNs();
  if (rc.reserved > 0) d += Stretch(rc.fallback_for_ns);
  return d;
}

void AddClaim(std::vector<Allotter::Claim>* v, uint64_t amount, int64_t until, int64_t now) {
  if (amount == 0 || until <= now) return;
  v->push_back({amount, until});
}

void Compact(std::vector<Allotter::Claim>* v, uint64_t current, int64_t current_until,
             int64_t now) {
  std::erase_if(*v, [&](const Allotter::Claim& c) {
    return c.until_ns <= now || (c.amount <= current && c.until_ns <= current_until);
  });
}

}  // namespace

Allotter::Allotter(AllotterConfig config, uint64_t epoch, int64_t start_ns, Logger log)
    : config_(std::move(config)), epoch_(epoch), start_ns_(start_ns), log_(std::move(log)) {
  int64_t max_refresh = 0;
  for (size_t i = 0; i < config_.resources.size(); ++i) {
    const ResourceConfig& rc = config_.resources[i];
    index_[rc.name] = i;
    auto p = std::make_unique<Pool>();
    p->learn_end = start_ns_ + LearnNs(rc);
    pools_.push_back(std::move(p));
    max_refresh = std::max(max_refresh, rc.refresh_ns);
  }
  alive_ns_ = 2 * max_refresh;
}

Allotter::~Allotter() = default;

void Allotter::Log(const std::string& line) {
  if (log_) log_(line);
}

Status CheckReconfigure(const AllotterConfig& from, const AllotterConfig& next) {
  for (const ResourceConfig& old : from.resources) {
    const auto it = std::find_if(next.resources.begin(), next.resources.end(),
                                 [&](const ResourceConfig& r) { return r.name == old.name; });
    if (it == next.resources.end()) {
      return Status(Code::kInvalidArgument,
                    next.source + ": resource '" + old.name +
                        "' was removed; removing a resource needs a restart of the allotter");
    }
    if (it->spec.algorithm != old.spec.algorithm) {
      return Status(Code::kInvalidArgument,
                    next.source + ": resource '" + old.name + "' changed its algorithm from " +
                        AlgorithmName(old.spec.algorithm) + " to " +
                        AlgorithmName(it->spec.algorithm) +
                        "; refused (the hosts' budget files must change too: restart)");
    }
  }
  return Status::OK();
}

Status Allotter::Reconfigure(AllotterConfig next, int64_t now_ns) {
  // Validate whole first: on error nothing changes.
  if (Status s = CheckReconfigure(config_, next); !s.ok()) return s;
  // Existing resources keep their index (hosts' Held slots), new ones follow.
  std::vector<ResourceConfig> ordered(config_.resources.size());
  for (ResourceConfig& r : next.resources) {
    auto it = index_.find(r.name);
    if (it != index_.end()) {
      ordered[it->second] = std::move(r);
      continue;
    }
    index_[r.name] = ordered.size();
    auto p = std::make_unique<Pool>();
    p->learn_end = start_ns_ + LearnNs(r);
    pools_.push_back(std::move(p));
    Log("resource " + r.name + " added: " + r.spec.Describe());
    ordered.push_back(std::move(r));
  }
  int64_t max_refresh = 0;
  for (size_t i = 0; i < ordered.size(); ++i) {
    const ResourceConfig& rc = ordered[i];
    Pool& pool = *pools_[i];
    max_refresh = std::max(max_refresh, rc.refresh_ns);
    pool.dirty = true;  // recount and divide by the new amounts at the next refresh
    if (i >= config_.resources.size()) continue;
    const ResourceConfig& old = config_.resources[i];
    // Claims were counted with the old tail: a longer one extends them (the
    // hosts may be counting longer than assumed); a shorter one is ignored
    // (safe: claims only overstate).
    const int64_t longer = rc.TailNs() - old.TailNs();
    if (longer > 0) {
      for (Held* h : pool.helds) {
        h->share_until += longer;
        h->fallback_until += longer;
        for (Claim& c : h->past_share) c.until_ns += longer;
        for (Claim& c : h->past_fallback) c.until_ns += longer;
      }
    }
    pool.learn_end = std::max(pool.learn_end, start_ns_ + LearnNs(rc));
    if (old.Amount() != rc.Amount() || old.reserved != rc.reserved) {
      Log("resource " + rc.name + ": " + std::to_string(old.Amount()) + " -> " +
          std::to_string(rc.Amount()) + " (reserved " + std::to_string(old.reserved) + " -> " +
          std::to_string(rc.reserved) + "), committed now " +
          std::to_string(CommittedShares(i, now_ns)));
    }
  }
  for (auto& [id, host] : hosts_) host->held.resize(ordered.size());
  next.resources = std::move(ordered);
  config_ = std::move(next);
  alive_ns_ = 2 * max_refresh;
  return Status::OK();
}

bool Allotter::Learning(int64_t now_ns) const {
  for (const auto& p : pools_) {
    if (now_ns < p->learn_end) return true;
  }
  return false;
}

size_t Allotter::Hosts() const { return hosts_.size(); }

std::string Allotter::Describe(size_t index, int64_t now_ns) const {
  std::string out;
  auto ms = [&](int64_t t) { return std::to_string((t - now_ns) / 1'000'000) + "ms"; };
  for (const Held* h : pools_[index]->helds) {
    out += h->host->id + ": share " + std::to_string(h->share) + " until " + ms(h->share_until) +
           ", fallback " + std::to_string(h->fallback) + " until " + ms(h->fallback_until) +
           ", target " + std::to_string(h->target) + ", want " + std::to_string(h->want);
    for (const Claim& c : h->past_share) {
      out += ", past share " + std::to_string(c.amount) + " until " + ms(c.until_ns);
    }
    for (const Claim& c : h->past_fallback) {
      out += ", past fallback " + std::to_string(c.amount) + " until " + ms(c.until_ns);
    }
    out += "\n";
  }
  return out;
}

uint64_t Allotter::Commit(const std::vector<Claim>& past, uint64_t current, int64_t current_until,
                          int64_t now_ns) {
  uint64_t c = now_ns < current_until ? current : 0;
  for (const Claim& x : past) {
    if (now_ns < x.until_ns) c = std::max(c, x.amount);
  }
  return c;
}

uint64_t Allotter::CommittedShares(size_t index, int64_t now_ns) const {
  uint64_t s = 0;
  for (const Held* h : pools_[index]->helds) {
    s += std::max(Commit(h->past_share, h->share, h->share_until, now_ns),
                  Commit(h->past_fallback, h->fallback, h->fallback_until, now_ns));
  }
  return s;
}

uint64_t Allotter::CommittedFallbacks(size_t index, int64_t now_ns) const {
  uint64_t s = 0;
  for (const Held* h : pools_[index]->helds) {
    s += Commit(h->past_fallback, h->fallback, h->fallback_until, now_ns);
  }
  return s;
}

AllotterView Allotter::View(int64_t now_ns) const {
  AllotterView v;
  v.epoch = epoch_;
  v.learning = Learning(now_ns);
  v.hosts = hosts_.size();
  v.refreshes = refreshes_;
  v.refused = refused_;
  for (size_t r = 0; r < pools_.size(); ++r) {
    const ResourceConfig& rc = config_.resources[r];
    const int64_t tail = rc.TailNs();
    ResourceView rv;
    rv.name = rc.name;
    rv.limit = rc.Amount();
    rv.reserved = rc.reserved;
    rv.learning = now_ns < pools_[r]->learn_end;
    for (const Held* h : pools_[r]->helds) {
      HostView hv;
      hv.host = h->host->id;
      hv.share = h->share;
      hv.fallback = h->fallback;
      hv.want = h->want;
      hv.live = now_ns - h->seen_ns < rc.lease_ns;
      const int64_t lease_end = h->share_until - tail;  // answer + Stretch(lease)
      if (now_ns < lease_end) {
        hv.in_force = h->share;
      } else if (now_ns < h->fallback_until - tail && h->fallback > 0) {
        hv.in_force = h->fallback;
        hv.on_fallback = true;
      }
      hv.committed = std::max(Commit(h->past_share, h->share, h->share_until, now_ns),
                              Commit(h->past_fallback, h->fallback, h->fallback_until, now_ns));
      rv.handed_out += hv.in_force;
      rv.committed += hv.committed;
      if (hv.live) {
        rv.wanted += hv.want;
        rv.waste += std::max(0.0, static_cast<double>(hv.in_force) - hv.want);
      }
      rv.hosts.push_back(std::move(hv));
    }
    std::sort(rv.hosts.begin(), rv.hosts.end(),
              [](const HostView& a, const HostView& b) { return a.host < b.host; });
    rv.headroom = rv.limit > rv.committed ? rv.limit - rv.committed : 0;
    v.resources.push_back(std::move(rv));
  }
  return v;
}

// Recounts the pool sums exactly, forgets hosts whose claims all lapsed, and
// divides anew among the hosts that refreshed within a lease.
void Allotter::Divide(size_t r, int64_t now_ns) {
  const ResourceConfig& rc = config_.resources[r];
  Pool& pool = *pools_[r];
  pool.sum_share = 0;
  pool.sum_fallback = 0;
  std::vector<Held*> members;
  std::vector<Claimant> claimants;
  std::vector<Held*> keep;
  for (Held* h : pool.helds) {
    Compact(&h->past_share, h->share, h->share_until, now_ns);
    Compact(&h->past_fallback, h->fallback, h->fallback_until, now_ns);
    h->c_fallback = Commit(h->past_fallback, h->fallback, h->fallback_until, now_ns);
    h->c_share = std::max(Commit(h->past_share, h->share, h->share_until, now_ns), h->c_fallback);
    const bool live = now_ns - h->seen_ns < rc.lease_ns;
    if (!live && h->c_share == 0 && h->c_fallback == 0) {
      Log("host " + h->host->id + " silent on " + rc.name + ": its share and fallback lapsed");
      Host* host = h->host;
      host->held[r].reset();  // deletes h
      // A host holding nothing anywhere, and silent, is forgotten.
      if (now_ns - host->last_seen >= alive_ns_ &&
          std::none_of(host->held.begin(), host->held.end(), [](const auto& p) { return !!p; })) {
        const std::string id = host->id;  // erase destroys host
        Log("host " + id + " forgotten");
        hosts_.erase(id);
      }
      continue;
    }
    keep.push_back(h);
    pool.sum_share += h->c_share;
    pool.sum_fallback += h->c_fallback;
    h->target = 0;
    h->fallback_target = 0;
    if (live) {
      members.push_back(h);
      double want = h->want;
      if (h->cap > 0) want = std::min(want, static_cast<double>(h->cap));
      claimants.push_back({want, h->host->weight});
    }
  }
  pool.helds.swap(keep);
  const uint64_t granule = rc.Granule();
  const std::vector<uint64_t> t = fleet::Divide(rc.division, rc.Amount(), granule, claimants);
  double weights = 0;
  for (const Claimant& c : claimants) weights += c.weight;
  for (size_t i = 0; i < members.size(); ++i) {
    members[i]->target = t[i];
    const double f = static_cast<double>(rc.reserved) * claimants[i].weight / weights;
    members[i]->fallback_target =
        static_cast<uint64_t>(std::floor(f / static_cast<double>(granule))) * granule;
  }
  pool.next_divide = now_ns + std::max<int64_t>(rc.refresh_ns / 8, 1);
  pool.dirty = false;
}

StatusOr<RefreshOut> Allotter::Refresh(const RefreshIn& in, int64_t now_ns) {
  // Logged once per host and reason, not at every retry.
  auto refuse = [&](Code code, const std::string& why) -> Status {
    const std::string who = Printable(in.host_id) ? in.host_id.substr(0, 64) : "(unprintable)";
    if (refusals_.size() > 10000) refusals_.clear();
    std::string& last = refusals_[who];
    if (last != why) Log("refused host " + who + ": " + why);
    last = why;
    ++refused_;
    return Status(code, why);
  };
  if (in.host_id.empty() || in.host_id.size() > kMaxHostIdBytes || !Printable(in.host_id)) {
    return refuse(Code::kInvalidArgument, "host id must be 1..255 printable bytes");
  }
  if (in.sequence == 0) return refuse(Code::kInvalidArgument, "sequence must start at 1");
  if (!std::isfinite(in.weight) || in.weight <= 0 || in.weight > kMaxWeight) {
    return refuse(Code::kInvalidArgument, "weight must be > 0 and <= 1e6");
  }
  if (in.age_ns < 0 || in.age_ns > kMaxDurationNs) {
    return refuse(Code::kInvalidArgument, "age must be 0..366 days");
  }
  if (in.resources.size() > kMaxResourcesPerRefresh) {
    return refuse(Code::kInvalidArgument, "more than 4096 resources in one refresh");
  }
  {
    // Names unique: pairwise for the usual handful, hashed beyond.
    std::unordered_set<std::string_view> names;
    for (size_t i = 0; i < in.resources.size(); ++i) {
      const ResourceIn& r = in.resources[i];
      bool twice = false;
      if (in.resources.size() <= 32) {
        for (size_t j = 0; j < i && !twice; ++j) twice = in.resources[j].name == r.name;
      } else {
        twice = !names.insert(r.name).second;
      }
      if (twice) return refuse(Code::kInvalidArgument, "resource '" + r.name + "' reported twice");
      if (!std::isfinite(r.demand) || r.demand < 0 || r.demand > kMaxDemand) {
        return refuse(Code::kInvalidArgument,
                      "absurd demand for '" + r.name + "' (must be 0..1e12 per second)");
      }
    }
  }
  std::unique_ptr<Host>& slot = hosts_[in.host_id];
  if (!slot) {
    slot = std::make_unique<Host>();
    slot->id = in.host_id;
    slot->instance = in.instance;
    slot->held.resize(config_.resources.size());
    Log("host " + in.host_id + " joined (weight " + std::to_string(in.weight) + ")");
  } else if (slot->instance != in.instance) {
    if (now_ns - slot->last_seen < alive_ns_) {
      return refuse(Code::kExists,
                    "host id '" + in.host_id + "' is held by another live forwarder");
    }
    Log("host " + in.host_id + ": a new forwarder instance takes over");
    slot->instance = in.instance;
    slot->last_seq = 0;
    slot->has_cached = false;
  }
  Host& host = *slot;
  if (in.sequence == host.last_seq && host.has_cached) {
    ++refreshes_;
    return host.cached;
  }
  if (in.sequence < host.last_seq) {
    return refuse(Code::kInvalidArgument, "sequence " + std::to_string(in.sequence) +
                                              " is older than " + std::to_string(host.last_seq));
  }
  host.weight = in.weight;
  host.last_seen = now_ns;
  const int64_t age = Positive(in.age_ns);

  RefreshOut out;
  out.epoch = epoch_;
  out.learning = false;
  for (const ResourceIn& ri : in.resources) {
    ResourceOut ro;
    ro.name = ri.name;
    ro.epoch = epoch_;
    auto it = index_.find(ri.name);
    if (it == index_.end()) {
      ro.error = "unknown resource '" + ri.name + "'";
      out.resources.push_back(std::move(ro));
      continue;
    }
    const size_t r = it->second;
    const ResourceConfig& rc = config_.resources[r];
    if (ri.algorithm != rc.spec.algorithm) {
      ro.error = std::string("algorithm mismatch: the allotter divides '") + ri.name + "' as " +
                 AlgorithmName(rc.spec.algorithm);
      Log("host " + in.host_id + ": " + ro.error);
      out.resources.push_back(std::move(ro));
      continue;
    }
    Pool& pool = *pools_[r];
    std::unique_ptr<Held>& hslot = host.held[r];
    if (!hslot) {
      hslot = std::make_unique<Held>();
      hslot->host = &host;
      hslot->resource = r;
      pool.helds.push_back(hslot.get());
      pool.dirty = true;
    }
    Held& h = *hslot;
    h.seen_ns = now_ns;
    h.cap = ri.cap;
    const bool learning = now_ns < pool.learn_end;
    if (!learning_logged_ && !Learning(now_ns)) {
      learning_logged_ = true;
      Log("learning over: dividing by demand");
    }
    const int64_t tail = rc.TailNs();

    // What the host reports it can still be using. With our latest reply
    // applied, a drained report retires every superseded claim.
    if (ri.share_epoch == epoch_ && ri.applied_sequence != 0 &&
        ri.applied_sequence == h.reply_seq) {
      const int64_t drained = now_ns + Stretch(Positive(ri.drained_in_ns));
      for (Claim& c : h.past_share) c.until_ns = std::min(c.until_ns, drained);
      for (Claim& c : h.past_fallback) c.until_ns = std::min(c.until_ns, drained);
    } else if (learning && ri.share_epoch != epoch_ && !h.learned) {
      // An earlier run's holdings: counted until they lapse and drain, and
      // the most this run may grant the host while learning.
      // Each pool learns its own: the share while the lease holds, the
      // fallback while it can still come (or is in force).
      h.learned = true;
      if (ri.share_epoch > epoch_) {
        Log("host " + in.host_id + " holds a share of a newer epoch (" +
            std::to_string(ri.share_epoch) + "): is another allotter running?");
      }
      // Left now: the figures are `age` old (a retry after a freeze can be
      // seconds old, its share long lapsed and reassigned by the last run).
      const int64_t aged = age - age / 1'000'000 * kDriftPpm;
      const int64_t lease_left = Positive(Stretch(ri.lease_left_ns) - aged);
      const int64_t fallback_left = Positive(Stretch(ri.fallback_left_ns) - aged);
      const uint64_t share = lease_left > 0 ? ri.share_amount : 0;
      const uint64_t fallback = fallback_left > 0 ? ri.fallback_amount : 0;
      AddClaim(&h.past_share, share, now_ns + Stretch(lease_left) + tail, now_ns);
      AddClaim(ri.lease_left_ns > 0 ? &h.past_share : &h.past_fallback, ri.in_force,
               now_ns + Stretch(Positive(ri.drained_in_ns)) + tail, now_ns);
      AddClaim(&h.past_fallback, fallback, now_ns + Stretch(fallback_left) + tail, now_ns);
      h.learn_share_cap = share;
      h.learn_fallback_cap = fallback;
    }

    // Demand, smoothed so that a steady demand never moves a share (a share
    // that moves costs utilisation both ways: shrink first, grow second):
    // - a rise beyond the dead band (one granule or 3%: the noise of
    //   counting paced asks) is followed at once;
    // - a fall only once two measurements in a row show it (beyond half a
    //   granule), to the newer one: a one-off dip moves nothing, and a host
    //   is not left holding what it stopped using for more than about one
    //   refresh.
    // A refresh sooner than half an interval after the last measurement (a
    // forwarder's follow-up after a shrink) carries no new measurement.
    const double raw = ri.demand * UnitSeconds(rc);
    if (!h.has_want) {
      h.want = raw;
      h.has_want = true;
      h.last_raw = raw;
      h.last_raw_ns = now_ns;
    } else if (now_ns - h.last_raw_ns >= rc.refresh_ns / 2) {
      const double granule = static_cast<double>(rc.Granule());
      if (raw > h.want + std::max(granule, 0.03 * h.want)) {
        h.want = raw;
      } else if (std::max(raw, h.last_raw) < h.want - 0.5 * granule) {
        h.want = raw;
      }
      h.last_raw = raw;
      h.last_raw_ns = now_ns;
    }
    if (pool.dirty || now_ns >= pool.next_divide) Divide(r, now_ns);

    // Shrink first, grow second: grow only into what the others' claims
    // leave (their counted commitments only overstate them).
    const uint64_t granule = rc.Granule();
    // A host's fallback never exceeds its share and counts inside it (the
    // host is in one stage at a time): the whole limit is divided.
    const uint64_t capacity = rc.Amount();
    const uint64_t others = pool.sum_share - h.c_share;
    uint64_t g = std::min(h.target, capacity > others ? capacity - others : 0);
    if (h.cap > 0) g = std::min(g, h.cap);
    const uint64_t fothers = pool.sum_fallback - h.c_fallback;
    uint64_t f = std::min(h.fallback_target, rc.reserved > fothers ? rc.reserved - fothers : 0);
    if (learning) {
      out.learning = true;
      g = std::min(g, h.learned ? h.learn_share_cap : h.share);
      f = std::min(f, h.learned ? h.learn_fallback_cap : h.fallback);
      if (h.learned && h.share > 0) {  // answered in this run already
        g = std::min(g, h.share);
        f = std::min(f, h.fallback);
      }
    }
    g = g / granule * granule;
    f = std::min(f, g) / granule * granule;

    // The previous grant stays claimed until it lapses (or drains).
    if (g < h.share) AddClaim(&h.past_share, h.share, h.share_until, now_ns);
    if (f < h.fallback) AddClaim(&h.past_fallback, h.fallback, h.fallback_until, now_ns);
    const int64_t lapse = now_ns + Stretch(rc.lease_ns);
    h.share = g;
    h.share_until = lapse + tail;
    h.fallback = f;
    h.fallback_until = lapse + Stretch(rc.fallback_for_ns) + tail;
    h.reply_seq = in.sequence;
    Compact(&h.past_share, h.share, h.share_until, now_ns);
    Compact(&h.past_fallback, h.fallback, h.fallback_until, now_ns);
    const uint64_t c_fallback = Commit(h.past_fallback, h.fallback, h.fallback_until, now_ns);
    const uint64_t c_share =
        std::max(Commit(h.past_share, h.share, h.share_until, now_ns), c_fallback);
    pool.sum_share = pool.sum_share - h.c_share + c_share;
    pool.sum_fallback = pool.sum_fallback - h.c_fallback + c_fallback;
    h.c_share = c_share;
    h.c_fallback = c_fallback;

    ro.amount = g;
    ro.burst = rc.BurstFor(g);
    ro.lease_ns = rc.lease_ns;
    ro.fallback_amount = f;
    ro.fallback_burst = rc.BurstFor(f);
    ro.fallback_for_ns = rc.fallback_for_ns;
    ro.refresh_ns = rc.refresh_ns;
    out.refresh_ns = out.refresh_ns == 0 ? rc.refresh_ns : std::min(out.refresh_ns, rc.refresh_ns);
    out.resources.push_back(std::move(ro));
  }
  if (out.refresh_ns == 0) out.refresh_ns = config_.resources.front().refresh_ns;
  host.last_seq = in.sequence;
  ++refreshes_;
  host.cached = out;
  host.has_cached = true;
  return out;
}

}  // namespace sluice::fleet
