// The allotter's decisions: division plus the bookkeeping that keeps the
// fleet under each limit. A pure library: no network, no clock of its own
// (every call passes `now_ns`, the allotter's CLOCK_MONOTONIC). The gRPC
// service (main.cc) is a thin shell over Refresh(). Not thread-safe: one
// caller at a time (the daemon holds a mutex).
//
// Invariants, per resource (docs/fleet.md, "The allotter and the forwarder"):
//
// 1. Every amount a host was ever told it may use is a *claim* that counts
//    until the host can no longer be using it: the current share until the
//    host's lease can have lapsed (answer time + lease + drift margin) plus
//    one tail (ResourceConfig::TailNs: what the algorithm still counts after
//    the amount stopped being in force); the current fallback until that
//    lapse + fallback_for + margin + tail; a superseded (larger) amount until
//    that same bound, or earlier once the host reported, with the latest
//    reply applied, from when it can no longer be using more than the amount
//    in force (drained).
// 2. A host's commitment is the largest of all its live claims, share and
//    fallback (a host is in one stage at a time, and its fallback never
//    exceeds its share); its fallback commitment the largest of its fallback
//    claims. Σ commitments <= limit and Σ fallback commitments <= reserved,
//    at every time: a grant may only grow into what others' commitments
//    leave (shrink first, grow second). Commitments only fall as time
//    passes, so the pool sums kept between exact recounts are upper bounds
//    (safe). A silent host's share is reused once it lapsed and drained,
//    its fallback (inside it) once that lapsed and drained too.
// 3. Nothing is durable. For one learning period after the start (lease +
//    margin + tail, plus fallback_for when reserved > 0, by which time every
//    grant of an earlier run has lapsed and drained) a host is granted no
//    more than what it reports holding from an earlier epoch; a host that
//    reports nothing gets 0. Every start has a higher epoch.
#ifndef SLUICE_FLEET_ALLOTTER_ALLOTTER_H_
#define SLUICE_FLEET_ALLOTTER_ALLOTTER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config.h"
#include "sluice/status.h"

namespace sluice::fleet {

// Mirrors ResourceReport in sluice_fleet.proto.
struct ResourceIn {
  std::string name;
  Algorithm algorithm = Algorithm::kSliding;
  double demand = 0;
  uint64_t in_force = 0;
  uint64_t share_amount = 0;
  int64_t lease_left_ns = 0;
  uint64_t fallback_amount = 0;
  int64_t fallback_left_ns = 0;
  int64_t drained_in_ns = 0;
  uint64_t share_epoch = 0;
  uint64_t applied_sequence = 0;
  uint64_t cap = 0;
};

struct RefreshIn {
  std::string host_id;
  uint64_t instance = 0;
  uint64_t sequence = 0;
  double weight = 1;
  int64_t age_ns = 0;  // how long before sending the figures were read
  std::vector<ResourceIn> resources;
};

// Mirrors ResourceShare.
struct ResourceOut {
  std::string name;
  std::string error;
  uint64_t amount = 0;
  uint64_t burst = 0;
  int64_t lease_ns = 0;
  uint64_t fallback_amount = 0;
  uint64_t fallback_burst = 0;
  int64_t fallback_for_ns = 0;
  int64_t refresh_ns = 0;
  uint64_t epoch = 0;
};

struct RefreshOut {
  uint64_t epoch = 0;
  int64_t refresh_ns = 0;
  bool learning = false;
  std::vector<ResourceOut> resources;
};

// What the allotter holds on one host of one resource, read at one time
// (metrics, the status page). Amounts in the resource's units.
struct HostView {
  std::string host;
  uint64_t share = 0;        // the share last granted
  uint64_t fallback = 0;     // the fallback last granted
  uint64_t in_force = 0;     // share while its lease holds, then fallback, then 0
  double want = 0;           // the host's demand as smoothed here, per unit (window, period, ttl)
  uint64_t committed = 0;    // its commitment (invariant 2)
  bool live = false;         // refreshed within a lease
  bool on_fallback = false;  // its lease lapsed, its fallback holds
};

struct ResourceView {
  std::string name;
  uint64_t limit = 0;
  uint64_t reserved = 0;
  bool learning = false;
  double wanted = 0;        // Σ live hosts' want
  uint64_t handed_out = 0;  // Σ in_force
  uint64_t committed = 0;   // Σ commitments (>= handed_out)
  // Σ over live hosts of what is in force beyond their want: handed to a
  // host that does not use it.
  double waste = 0;
  uint64_t headroom = 0;  // limit - committed: held by nobody
  std::vector<HostView> hosts;
};

struct AllotterView {
  bool leading = true;  // false: a standby (Leadership), the rest is empty
  uint64_t epoch = 0;
  bool learning = false;
  size_t hosts = 0;        // hosts known (live or holding claims)
  uint64_t refreshes = 0;  // refreshes answered
  uint64_t refused = 0;    // refreshes refused
  std::vector<ResourceView> resources;
};

// Limits on what a request may say (larger: kInvalidArgument).
constexpr size_t kMaxHostIdBytes = 255;
constexpr size_t kMaxResourcesPerRefresh = 4096;
constexpr double kMaxDemand = 1e12;  // permits per second
constexpr double kMaxWeight = 1e6;

// Lease arithmetic shared by both ends: clocks may run apart by up to
// kDriftPpm, and each side adds kMarginNs.
constexpr int64_t kDriftPpm = 1000;
constexpr int64_t kMarginNs = 1'000'000;
// d + d * drift (allotter side: longer).
int64_t Stretch(int64_t d);
// d - d * drift - margin (host side: shorter; may be <= 0).
int64_t Shrink(int64_t d);

// An epoch above every earlier start's: CLOCK_REALTIME in microseconds.
uint64_t NewEpoch();

// Whether `next` may replace `from` live (Allotter::Reconfigure): every
// resource keeps its algorithm and none is removed; kInvalidArgument naming
// the first one otherwise.
Status CheckReconfigure(const AllotterConfig& from, const AllotterConfig& next);

class Allotter {
 public:
  // One line per notable event (host joined, silent, refused; learning over).
  using Logger = std::function<void(const std::string&)>;

  Allotter(AllotterConfig config, uint64_t epoch, int64_t start_ns, Logger log = nullptr);
  ~Allotter();
  Allotter(const Allotter&) = delete;
  Allotter& operator=(const Allotter&) = delete;

  // Answers one refresh at `now_ns`. kInvalidArgument: malformed, absurd or
  // stale (sequence lower than the last answered); kExists: the host id is
  // held by another live forwarder instance. A per-resource problem is
  // answered in ResourceOut::error. The same sequence again gets the same
  // reply.
  StatusOr<RefreshOut> Refresh(const RefreshIn& in, int64_t now_ns);

  // Applies a changed config live at `now_ns` (SIGHUP). Every resource keeps
  // its algorithm and none is removed (kInvalidArgument naming the first one
  // otherwise; nothing changes); new resources are added. Claims already
  // made stay counted until they lapse or drain (a longer tail extends
  // them), so a lowered limit shrinks first: new grants only fit into what
  // the new limit leaves, and Σ commitments falls under it within one
  // lease + fallback_for + tail. A raised limit is grown into at once.
  Status Reconfigure(AllotterConfig config, int64_t now_ns);

  uint64_t epoch() const { return epoch_; }
  const AllotterConfig& config() const { return config_; }
  bool Learning(int64_t now_ns) const;

  // Exact Σ of the commitments (share and fallback claims) and of the
  // fallback commitments of resource `index` at `now_ns` (invariant 2;
  // tests and status lines).
  uint64_t CommittedShares(size_t index, int64_t now_ns) const;
  uint64_t CommittedFallbacks(size_t index, int64_t now_ns) const;
  size_t Hosts() const;
  // Everything above, per resource and host, at `now_ns`.
  AllotterView View(int64_t now_ns) const;
  // One line per host of resource `index`: share, fallback, claims (logs, tests).
  std::string Describe(size_t index, int64_t now_ns) const;

  // An amount a host may be using until until_ns (allotter clock).
  struct Claim {
    uint64_t amount;
    int64_t until_ns;
  };

 private:
  struct Held;
  struct Host;
  struct Pool;

  void Divide(size_t r, int64_t now_ns);
  static uint64_t Commit(const std::vector<Claim>& past, uint64_t current, int64_t current_until,
                         int64_t now_ns);
  void Log(const std::string& line);

  AllotterConfig config_;
  uint64_t epoch_;
  int64_t start_ns_;
  Logger log_;
  int64_t alive_ns_;                          // a forwarder silent this long is no longer live
  std::vector<std::unique_ptr<Pool>> pools_;  // per resource
  std::unordered_map<std::string, std::unique_ptr<Host>> hosts_;
  std::unordered_map<std::string, size_t> index_;  // resource name -> index
  bool learning_logged_ = false;
  std::unordered_map<std::string, std::string> refusals_;  // last refusal logged per host
  uint64_t refreshes_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_ALLOTTER_ALLOTTER_H_
