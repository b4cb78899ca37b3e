// The forwarder's metrics port: /metrics for every limiter of the host's
// namespace, global or not (read from the segment, mapped read-only, at
// each scrape: the host's exporter), plus for global ones what the refresh
// loop (main.cc) reports here after each refresh. Thread-safe.
#ifndef SLUICE_FLEET_METRICS_FORWARDER_STATUS_H_
#define SLUICE_FLEET_METRICS_FORWARDER_STATUS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "allotter.h"
#include "http_server.h"
#include "sluice/admin/inspect.h"

namespace sluice::fleet::metrics {

// What the refresh loop has seen. Times are CLOCK_MONOTONIC.
struct RefreshState {
  std::string ns;
  std::string host_id;
  uint64_t epoch = 0;  // of the last reply (0: none yet)
  uint64_t refreshes = 0;
  uint64_t errors = 0;  // failed refreshes
  bool connected = false;
  struct PerLimiter {
    int64_t granted_at_ns = 0;  // send time of the last reply that granted it (0: none)
    uint64_t errors = 0;        // failed refreshes plus errors answered for it
  };
  std::map<std::string, PerLimiter> limiters;  // the global ones
};

// The exposition of `snap` and `state` (docs/fleet.md, "Metrics").
std::string ForwarderMetricsText(const Snapshot& snap, const RefreshState& state);

class ForwarderStatus {
 public:
  ForwarderStatus(std::string ns, std::string host_id, const std::vector<std::string>& global);
  ~ForwarderStatus();  // Stop()

  // Maps the namespace read-only and serves /metrics on `address`. kIo when
  // it cannot be bound; the inspector's error when the namespace cannot be
  // opened.
  Status Start(const ListenAddress& address);
  int port() const { return http_.port(); }
  void Stop();

  // The refresh loop: a reply to the request first sent at `sent_ns`, or
  // a failure.
  void Refreshed(const RefreshOut& reply, int64_t sent_ns);
  void RefreshFailed();

  std::string Metrics();

 private:
  std::mutex mu_;  // guards state_ and inspector_
  RefreshState state_;
  std::unique_ptr<Inspector> inspector_;
  HttpServer http_;
};

}  // namespace sluice::fleet::metrics

#endif  // SLUICE_FLEET_METRICS_FORWARDER_STATUS_H_
