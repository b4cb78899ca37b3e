#include "forwarder_status.h"

#include <utility>

#include "exposition.h"

namespace sluice::fleet::metrics {
namespace {

using G = MetricType;

struct Row {
  const LimiterRow* row;
  Labels labels;
};

void Each(TextWriter* w, const std::vector<Row>& rows, const char* name, MetricType type,
          const char* help, bool global_only, double (*get)(const LimiterRow&)) {
  w->Family(name, type, help);
  for (const Row& r : rows) {
    if (!global_only || r.row->global) w->Sample(r.labels, get(*r.row));
  }
}

}  // namespace

std::string ForwarderMetricsText(const Snapshot& snap, const RefreshState& st) {
  TextWriter w;
  std::vector<Row> rows;
  for (const LimiterRow& r : snap.rows) {
    if (r.corrupt.empty()) rows.push_back({&r, {{"namespace", st.ns}, {"limiter", r.name}}});
  }
  w.Family("sluice_forwarder_info", G::kGauge, "The forwarder's namespace and host id (always 1).");
  w.Sample({{"namespace", st.ns}, {"host", st.host_id}}, 1);
  w.Family("sluice_forwarder_epoch", G::kGauge,
           "The allotter's epoch in the last reply (0: none).");
  w.Sample(static_cast<double>(st.epoch));
  w.Family("sluice_forwarder_connected", G::kGauge, "1 when the last refresh was answered.");
  w.Sample(st.connected ? 1 : 0);
  w.Family("sluice_forwarder_refreshes", G::kCounter, "Refreshes answered by the allotter.");
  w.Sample(static_cast<double>(st.refreshes));
  w.Family("sluice_forwarder_refresh_errors", G::kCounter, "Refreshes that failed.");
  w.Sample(static_cast<double>(st.errors));
  w.Family("sluice_forwarder_corrupt_limiters", G::kGauge, "Limiter slots that fail validation.");
  w.Sample(static_cast<double>(snap.rows.size() - rows.size()));

  Each(&w, rows, "sluice_limiter_granted", G::kCounter, "Permits granted.", false,
       [](const LimiterRow& r) { return static_cast<double>(r.stats.granted); });
  Each(&w, rows, "sluice_limiter_denied", G::kCounter, "Permits denied.", false,
       [](const LimiterRow& r) { return static_cast<double>(r.stats.denied); });
  Each(&w, rows, "sluice_limiter_asked", G::kCounter, "Permits asked for.", false,
       [](const LimiterRow& r) { return static_cast<double>(r.stats.asked); });
  Each(&w, rows, "sluice_limiter_waits", G::kCounter, "Blocking acquires that had to sleep.", false,
       [](const LimiterRow& r) { return static_cast<double>(r.stats.waits); });
  Each(&w, rows, "sluice_limiter_wait_seconds", G::kCounter, "Time slept in blocking acquires.",
       false, [](const LimiterRow& r) { return static_cast<double>(r.stats.wait_ns) / 1e9; });
  Each(&w, rows, "sluice_limiter_waiting", G::kGauge, "Callers blocked now (approximate).", false,
       [](const LimiterRow& r) { return static_cast<double>(r.stats.waiting); });
  Each(&w, rows, "sluice_limiter_demand", G::kGauge, "Permits asked per second, recent.", false,
       [](const LimiterRow& r) { return r.stats.demand; });
  Each(&w, rows, "sluice_limiter_level", G::kGauge,
       "Occupancy: tokens spent (gcra), count (window), grants in the window (sliding), holders "
       "(lease).",
       false, [](const LimiterRow& r) { return r.level.used; });
  Each(&w, rows, "sluice_limiter_bound", G::kGauge,
       "What the level is held under: burst, limit or holders.", false,
       [](const LimiterRow& r) { return r.level.capacity; });

  Each(&w, rows, "sluice_limiter_share", G::kGauge,
       "Global limiters: the amount in force (0: closed).", true,
       [](const LimiterRow& r) { return static_cast<double>(r.share.amount); });
  Each(&w, rows, "sluice_limiter_share_cap", G::kGauge,
       "Global limiters: the budget file's cap (0: none).", true,
       [](const LimiterRow& r) { return static_cast<double>(r.share.cap); });
  Each(&w, rows, "sluice_limiter_share_epoch", G::kGauge,
       "Global limiters: the epoch of the share in force.", true,
       [](const LimiterRow& r) { return static_cast<double>(r.share.epoch); });
  Each(&w, rows, "sluice_limiter_fallback", G::kGauge,
       "Global limiters: 1 while on the fallback (the share lapsed).", true,
       [](const LimiterRow& r) {
         return r.share.stage == admin::ShareStage::kFallback ? 1.0 : 0.0;
       });
  w.Family("sluice_limiter_share_stage", G::kGauge,
           "Global limiters: 1 for the stage in force (none, share, fallback, lapsed).");
  for (const Row& r : rows) {
    if (!r.row->global) continue;
    for (admin::ShareStage s : {admin::ShareStage::kNone, admin::ShareStage::kShare,
                                admin::ShareStage::kFallback, admin::ShareStage::kLapsed}) {
      Labels l = r.labels;
      l.emplace_back("stage", admin::ShareStageName(s));
      w.Sample(l, r.row->share.stage == s ? 1 : 0);
    }
  }
  w.Family("sluice_limiter_stage_remaining_seconds", G::kGauge,
           "Global limiters: time left in the stage in force (share or fallback).");
  for (const Row& r : rows) {
    const ShareRow& s = r.row->share;
    if (!r.row->global || s.ends_ns == INT64_MAX) continue;
    if (s.stage != admin::ShareStage::kShare && s.stage != admin::ShareStage::kFallback) continue;
    w.Sample(r.labels, s.ends_ns > snap.taken_ns ? (s.ends_ns - snap.taken_ns) / 1e9 : 0.0);
  }
  w.Family("sluice_limiter_lease_age_seconds", G::kGauge,
           "Global limiters: time since the refresh that granted the share was sent.");
  for (const Row& r : rows) {
    auto it = st.limiters.find(r.row->name);
    if (!r.row->global || it == st.limiters.end() || it->second.granted_at_ns == 0) continue;
    w.Sample(r.labels, static_cast<double>(snap.taken_ns - it->second.granted_at_ns) / 1e9);
  }
  w.Family("sluice_limiter_refresh_errors", G::kCounter,
           "Global limiters: failed refreshes plus errors the allotter answered for it.");
  for (const Row& r : rows) {
    auto it = st.limiters.find(r.row->name);
    if (r.row->global) {
      w.Sample(r.labels, it == st.limiters.end() ? 0 : static_cast<double>(it->second.errors));
    }
  }
  return w.text();
}

ForwarderStatus::ForwarderStatus(std::string ns, std::string host_id,
                                 const std::vector<std::string>& global) {
  state_.ns = std::move(ns);
  state_.host_id = std::move(host_id);
  for (const std::string& g : global) state_.limiters[g];
}

ForwarderStatus::~ForwarderStatus() { Stop(); }

Status ForwarderStatus::Start(const ListenAddress& address) {
  StatusOr<Inspector> in = Inspector::Open(state_.ns);
  if (!in.ok()) return in.status();
  inspector_ = std::make_unique<Inspector>(std::move(*in));
  http_.Get("/metrics", [this] { return Response{200, kExpositionContentType, Metrics()}; });
  return http_.Start(address);
}

void ForwarderStatus::Stop() { http_.Stop(); }

void ForwarderStatus::Refreshed(const RefreshOut& reply, int64_t sent_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.epoch = reply.epoch;
  state_.connected = true;
  ++state_.refreshes;
  for (const ResourceOut& r : reply.resources) {
    RefreshState::PerLimiter& l = state_.limiters[r.name];
    if (r.error.empty()) {
      l.granted_at_ns = sent_ns;
    } else {
      ++l.errors;
    }
  }
}

void ForwarderStatus::RefreshFailed() {
  std::lock_guard<std::mutex> lock(mu_);
  state_.connected = false;
  ++state_.errors;
  for (auto& [name, l] : state_.limiters) ++l.errors;
}

std::string ForwarderStatus::Metrics() {
  std::lock_guard<std::mutex> lock(mu_);
  return ForwarderMetricsText(inspector_->Take(), state_);
}

}  // namespace sluice::fleet::metrics
