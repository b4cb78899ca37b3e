// sluice-allotter's --etcd flags and the election they start: an
// EtcdElection and a Campaigner wired to the daemon's Leadership (docs/fleet.md
// "Operations"). Kept out of main.cc so that the daemon's shell stays thin.
// Not thread-safe (Start and Stop from one thread); the Leadership it drives
// is.
#ifndef SLUICE_FLEET_ALLOTTER_ALLOTTER_ELECTION_H_
#define SLUICE_FLEET_ALLOTTER_ALLOTTER_ELECTION_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "leadership.h"

namespace sluice::fleet {

class Campaigner;
class EtcdElection;

struct ElectionFlags {
  std::string etcd;                      // --etcd URL[,URL...]; empty: no election
  std::string advertise;                 // --advertise HOST:PORT (default: the bound address)
  std::string name = "sluice-allotter";  // --election NAME
  int64_t ttl_s = 5;                     // --election-ttl SECONDS
};

// The usage lines of the flags below.
extern const char kElectionUsage[];
extern const char kElectionHelp[];

// Takes argv[*i] (and its value, advancing *i) if it is an election flag:
// returns true, with *error set on a bad value; false if it is not one.
bool ParseElectionFlag(int argc, char** argv, int* i, ElectionFlags* flags, std::string* error);

class AllotterElection {
 public:
  using Logger = std::function<void(const std::string&)>;
  // kInvalidArgument when flags.etcd is not a list of http://host:port.
  static StatusOr<std::unique_ptr<AllotterElection>> Create(const ElectionFlags& flags,
                                                            Leadership* leadership, Logger log);
  ~AllotterElection();  // Stop()

  // Campaigns as `bound` (or --advertise).
  void Start(const std::string& bound);
  // Stops dividing, then hands the leadership over (revokes the lease).
  void Stop();

 private:
  AllotterElection() = default;
  ElectionFlags flags_;
  Leadership* leadership_ = nullptr;
  Logger log_;
  std::unique_ptr<EtcdElection> election_;
  std::unique_ptr<Campaigner> campaigner_;
};

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_ALLOTTER_ALLOTTER_ELECTION_H_
