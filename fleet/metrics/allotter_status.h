// The allotter's metrics port: /metrics (Prometheus text), /status.json and
// / (the status page, which polls /status.json). Reads the Allotter shared
// with the gRPC service under the service's mutex, taking a View at a time;
// a sampler thread keeps the last kHistorySamples views (of up to
// kChartHosts hosts per resource), one per kSampleNs, for the page's chart.
// Thread-safe.
#ifndef SLUICE_FLEET_METRICS_ALLOTTER_STATUS_H_
#define SLUICE_FLEET_METRICS_ALLOTTER_STATUS_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "allotter.h"
#include "http_server.h"

namespace sluice::fleet::metrics {

inline constexpr size_t kHistorySamples = 300;
inline constexpr int64_t kSampleNs = 1'000'000'000;
// Hosts kept per resource and sample (the first by name): a chart shows no
// more legibly, and the history stays small whatever the fleet's size.
inline constexpr size_t kChartHosts = 16;

// A view and when it was taken (the allotter's clock).
struct TimedView {
  int64_t at_ns = 0;
  AllotterView view;
};

// The exposition of `v` (docs/fleet.md, "Metrics").
std::string AllotterMetricsText(const AllotterView& v);
// The page's figures: `now` and the history as JSON (docs/fleet.md).
std::string AllotterStatusJson(const TimedView& now, const std::deque<TimedView>& history);

class AllotterStatus {
 public:
  using Clock = std::function<int64_t()>;
  // The figures at `now` (thread-safe: called from the HTTP and sampler
  // threads), e.g. Leadership::View.
  using ViewSource = std::function<AllotterView(int64_t now)>;
  AllotterStatus(ViewSource source, Clock clock);
  // REQUIRES: `allotter` and `mu` outlive this; every other use of
  // `allotter` holds `mu`.
  AllotterStatus(const Allotter* allotter, std::mutex* mu, Clock clock);
  ~AllotterStatus();  // Stop()

  // Serves the three routes on `address` and starts the sampler. kIo when
  // it cannot be bound.
  Status Start(const ListenAddress& address);
  int port() const { return http_.port(); }
  // Stops serving and sampling (idempotent; within about a second).
  void Stop();

  std::string Metrics();
  std::string StatusJson();
  // Records one history sample now (the sampler's step).
  void Sample();

 private:
  TimedView Take();

  ViewSource source_;
  Clock clock_;
  HttpServer http_;
  std::mutex mu_;  // guards history_ and stop_
  std::condition_variable cv_;
  std::deque<TimedView> history_;
  bool stop_ = false;
  std::thread sampler_;
};

}  // namespace sluice::fleet::metrics

#endif  // SLUICE_FLEET_METRICS_ALLOTTER_STATUS_H_
