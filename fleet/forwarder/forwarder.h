// The forwarder's refresh logic, without the network: builds a refresh from
// the host's figures and publishes the reply's shares. main.cc sends the
// requests (gRPC); tests wire it straight to an Allotter. Not thread-safe.
//
// Lease arithmetic (docs/fleet.md): a share is published with
//   expires_ns = (when the request was FIRST sent) + Shrink(lease)
// (Shrink: minus the clock-drift margin), so the host's lease always ends
// before the allotter's count of it, whose clock starts later (when it
// answered). A retry of a request keeps its sequence number and its first
// send time.
#ifndef SLUICE_FLEET_FORWARDER_FORWARDER_H_
#define SLUICE_FLEET_FORWARDER_FORWARDER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "allotter.h"
#include "host_limiters.h"

namespace sluice::fleet {

struct ForwarderOptions {
  std::string host_id;
  double weight = 1;
  uint64_t instance = 0;              // random per process
  std::vector<std::string> limiters;  // the host's global limiters
};

class Forwarder {
 public:
  using Logger = std::function<void(const std::string&)>;
  Forwarder(HostLimiters* host, ForwarderOptions options, Logger log = nullptr);

  // A new request (next sequence number), read from the host now; its send
  // time is now. A limiter that cannot be read is left out (and logged).
  RefreshIn Next();
  // The request to send again after a failure: same sequence, same figures,
  // same first send time.
  const RefreshIn& current() const { return current_; }
  int64_t sent_ns() const { return sent_ns_; }

  // Publishes the reply to current(). Returns how long to wait before the
  // next refresh (the reply's interval).
  int64_t Apply(const RefreshOut& reply);
  // Whether the last Apply cut a share that the host had already drained
  // (it uses no more than the new amount): the next refresh should go out
  // at once, so that the allotter can hand what was freed to others a
  // refresh sooner (docs/fleet.md "Convergence").
  bool follow_up() const { return follow_up_; }

  uint64_t epoch() const { return epoch_; }

  // The global limiters the next request reports (a reloaded budget file).
  void SetLimiters(std::vector<std::string> limiters) { options_.limiters = std::move(limiters); }

 private:
  void Log(const std::string& line);
  // Permits asked per second over the last kDemandSpanNs of `asked` samples
  // (at least kDemandMinSpanNs of them), else the host's own figure.
  double Demand(const std::string& name, const LimiterFigures& f, int64_t now);

  HostLimiters* host_;
  ForwarderOptions options_;
  Logger log_;
  uint64_t sequence_ = 0;
  RefreshIn current_;
  int64_t sent_ns_ = 0;
  uint64_t epoch_ = 0;
  bool follow_up_ = false;
  struct Applied {
    uint64_t sequence = 0;
    uint64_t epoch = 0;
    int64_t expires_ns = 0;  // tells this publish from any other
  };
  std::map<std::string, Applied> applied_;
  std::map<std::string, std::string> last_error_;  // logged once per change
  struct Sample {
    int64_t at_ns;
    uint64_t asked;
  };
  std::map<std::string, std::deque<Sample>> asked_;  // per limiter, oldest first
};

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_FORWARDER_FORWARDER_H_
