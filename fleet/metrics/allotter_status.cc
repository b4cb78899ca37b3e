#include "allotter_status.h"

#include <map>
#include <set>
#include <utility>

#include "exposition.h"
#include "status_page.h"

namespace sluice::fleet::metrics {
namespace {

using G = MetricType;

// One gauge per resource.
void PerResource(TextWriter* w, const AllotterView& v, const char* name, const char* help,
                 double (*get)(const ResourceView&)) {
  w->Family(name, G::kGauge, help);
  for (const ResourceView& r : v.resources) w->Sample({{"resource", r.name}}, get(r));
}

// One gauge per resource and host.
void PerHost(TextWriter* w, const AllotterView& v, const char* name, const char* help,
             double (*get)(const HostView&)) {
  w->Family(name, G::kGauge, help);
  for (const ResourceView& r : v.resources) {
    for (const HostView& h : r.hosts) w->Sample({{"resource", r.name}, {"host", h.host}}, get(h));
  }
}

std::string Num(double v) { return FormatValue(v); }

}  // namespace

std::string AllotterMetricsText(const AllotterView& v) {
  TextWriter w;
  w.Family("sluice_allotter_epoch", G::kGauge,
           "This run's epoch (higher at every start and every leadership won; 0 while following).");
  w.Sample(static_cast<double>(v.epoch));
  w.Family("sluice_allotter_leading", G::kGauge,
           "1 while this allotter divides (alone, or elected and its election lease holds).");
  w.Sample(v.leading ? 1 : 0);
  w.Family("sluice_allotter_hosts", G::kGauge, "Hosts known: live or still holding claims.");
  w.Sample(static_cast<double>(v.hosts));
  w.Family("sluice_allotter_refreshes", G::kCounter, "Refreshes answered.");
  w.Sample(static_cast<double>(v.refreshes));
  w.Family("sluice_allotter_refused", G::kCounter, "Refreshes refused.");
  w.Sample(static_cast<double>(v.refused));
  PerResource(&w, v, "sluice_allotter_learning",
              "1 while the resource is learning what hosts hold from an earlier run.",
              [](const ResourceView& r) { return r.learning ? 1.0 : 0.0; });
  PerResource(&w, v, "sluice_allotter_limit", "The fleet-wide limit (amount per unit).",
              [](const ResourceView& r) { return static_cast<double>(r.limit); });
  PerResource(&w, v, "sluice_allotter_reserved", "The part of the limit kept for fallbacks.",
              [](const ResourceView& r) { return static_cast<double>(r.reserved); });
  PerResource(&w, v, "sluice_allotter_wanted", "Sum of the live hosts' demand (amount per unit).",
              [](const ResourceView& r) { return r.wanted; });
  PerResource(
      &w, v, "sluice_allotter_handed_out",
      "Sum of the amounts in force at the hosts (share, or fallback once the lease lapsed).",
      [](const ResourceView& r) { return static_cast<double>(r.handed_out); });
  PerResource(&w, v, "sluice_allotter_committed",
              "Sum of what hosts may still be using (shares and superseded claims).",
              [](const ResourceView& r) { return static_cast<double>(r.committed); });
  PerResource(&w, v, "sluice_allotter_waste",
              "Capacity in force at live hosts beyond their demand: handed out, not used.",
              [](const ResourceView& r) { return r.waste; });
  PerResource(&w, v, "sluice_allotter_headroom",
              "Capacity nobody holds: the limit minus the commitments.",
              [](const ResourceView& r) { return static_cast<double>(r.headroom); });
  PerResource(&w, v, "sluice_allotter_resource_hosts", "Hosts that refreshed within a lease.",
              [](const ResourceView& r) {
                double n = 0;
                for (const HostView& h : r.hosts) n += h.live ? 1 : 0;
                return n;
              });
  PerResource(&w, v, "sluice_allotter_fallbacks", "Hosts whose lease lapsed, on their fallback.",
              [](const ResourceView& r) {
                double n = 0;
                for (const HostView& h : r.hosts) n += h.on_fallback ? 1 : 0;
                return n;
              });
  PerHost(&w, v, "sluice_allotter_host_share", "The share last granted to the host.",
          [](const HostView& h) { return static_cast<double>(h.share); });
  PerHost(&w, v, "sluice_allotter_host_fallback", "The fallback last granted to the host.",
          [](const HostView& h) { return static_cast<double>(h.fallback); });
  PerHost(&w, v, "sluice_allotter_host_in_force", "The amount in force at the host.",
          [](const HostView& h) { return static_cast<double>(h.in_force); });
  PerHost(&w, v, "sluice_allotter_host_want", "The host's demand as smoothed (amount per unit).",
          [](const HostView& h) { return h.want; });
  PerHost(&w, v, "sluice_allotter_host_committed", "What the host may still be using.",
          [](const HostView& h) { return static_cast<double>(h.committed); });
  return w.text();
}

std::string AllotterStatusJson(const TimedView& now, const std::deque<TimedView>& history) {
  const AllotterView& v = now.view;
  std::string o =
      "{\"epoch\":" + std::to_string(v.epoch) + ",\"learning\":" + (v.learning ? "true" : "false") +
      ",\"hosts\":" + std::to_string(v.hosts) + ",\"refreshes\":" + std::to_string(v.refreshes) +
      ",\"refused\":" + std::to_string(v.refused) + ",\"resources\":[";
  for (size_t i = 0; i < v.resources.size(); ++i) {
    const ResourceView& r = v.resources[i];
    if (i > 0) o += ',';
    o += "{\"name\":" + JsonQuote(r.name) + ",\"limit\":" + std::to_string(r.limit) +
         ",\"reserved\":" + std::to_string(r.reserved) +
         ",\"learning\":" + (r.learning ? "true" : "false") + ",\"wanted\":" + Num(r.wanted) +
         ",\"handed_out\":" + std::to_string(r.handed_out) +
         ",\"committed\":" + std::to_string(r.committed) + ",\"waste\":" + Num(r.waste) +
         ",\"headroom\":" + std::to_string(r.headroom) + ",\"hosts\":[";
    for (size_t j = 0; j < r.hosts.size(); ++j) {
      const HostView& h = r.hosts[j];
      if (j > 0) o += ',';
      o += "{\"host\":" + JsonQuote(h.host) + ",\"share\":" + std::to_string(h.share) +
           ",\"fallback\":" + std::to_string(h.fallback) +
           ",\"in_force\":" + std::to_string(h.in_force) + ",\"want\":" + Num(h.want) +
           ",\"live\":" + (h.live ? "true" : "false") +
           ",\"on_fallback\":" + (h.on_fallback ? "true" : "false") + "}";
    }
    // The chart: seconds before now, and per host its in-force amount and
    // want at each (null: not known then).
    o += "],\"history\":{\"t\":[";
    std::set<std::string> names;
    std::vector<std::map<std::string, const HostView*>> at;
    for (const TimedView& tv : history) {
      at.emplace_back();
      for (const ResourceView& hr : tv.view.resources) {
        if (hr.name != r.name) continue;
        for (const HostView& h : hr.hosts) {
          names.insert(h.host);
          at.back()[h.host] = &h;
        }
      }
    }
    for (size_t k = 0; k < history.size(); ++k) {
      if (k > 0) o += ',';
      o += Num(static_cast<double>(history[k].at_ns - now.at_ns) / 1e9);
    }
    o += "],\"hosts\":{";
    bool first = true;
    for (const std::string& name : names) {
      if (!first) o += ',';
      first = false;
      std::string share, want;
      for (size_t k = 0; k < at.size(); ++k) {
        auto it = at[k].find(name);
        if (k > 0) {
          share += ',';
          want += ',';
        }
        share += it == at[k].end() ? "null" : std::to_string(it->second->in_force);
        want += it == at[k].end() ? "null" : Num(it->second->want);
      }
      o += JsonQuote(name) + ":{\"in_force\":[" + share + "],\"want\":[" + want + "]}";
    }
    o += "}}}";
  }
  o += "]}";
  return o;
}

AllotterStatus::AllotterStatus(ViewSource source, Clock clock)
    : source_(std::move(source)), clock_(std::move(clock)) {}

AllotterStatus::AllotterStatus(const Allotter* allotter, std::mutex* mu, Clock clock)
    : AllotterStatus(
          [allotter, mu](int64_t now) {
            std::lock_guard<std::mutex> lock(*mu);
            return allotter->View(now);
          },
          std::move(clock)) {}

AllotterStatus::~AllotterStatus() { Stop(); }

TimedView AllotterStatus::Take() {
  TimedView t;
  t.at_ns = clock_();
  t.view = source_(t.at_ns);
  return t;
}

std::string AllotterStatus::Metrics() { return AllotterMetricsText(Take().view); }

std::string AllotterStatus::StatusJson() {
  const TimedView now = Take();
  std::lock_guard<std::mutex> lock(mu_);
  return AllotterStatusJson(now, history_);
}

void AllotterStatus::Sample() {
  TimedView t = Take();
  for (ResourceView& r : t.view.resources) {
    if (r.hosts.size() > kChartHosts) r.hosts.resize(kChartHosts);
  }
  std::lock_guard<std::mutex> lock(mu_);
  history_.push_back(std::move(t));
  while (history_.size() > kHistorySamples) history_.pop_front();
}

Status AllotterStatus::Start(const ListenAddress& address) {
  http_.Get("/metrics", [this] { return Response{200, kExpositionContentType, Metrics()}; });
  http_.Get("/status.json", [this] { return Response{200, "application/json", StatusJson()}; });
  http_.Get("/", [] { return Response{200, "text/html; charset=utf-8", kStatusPageHtml}; });
  Sample();  // the first sample is there before the first request
  Status st = http_.Start(address);
  if (!st.ok()) return st;
  sampler_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::nanoseconds(kSampleNs), [this] { return stop_; })) {
      lock.unlock();
      Sample();
      lock.lock();
    }
  });
  return st;
}

void AllotterStatus::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
  http_.Stop();
}

}  // namespace sluice::fleet::metrics
