// The leader election the allotters campaign in (docs/fleet.md,
// "Operations"): a lease that lives while it is kept alive, a campaign that
// returns once this candidate leads, the leader's address for the others,
// and an epoch claimed under the leadership. EtcdElection (etcd_election.h)
// is the real one; tests use an in-memory fake. Implementations are
// thread-safe: Campaign blocks one thread while another keeps the lease
// alive.
#ifndef SLUICE_FLEET_ELECTION_ELECTION_H_
#define SLUICE_FLEET_ELECTION_ELECTION_H_

#include <cstdint>
#include <string>

#include "sluice/status.h"

namespace sluice::fleet {

struct LeaderKey {
  std::string key;    // this candidate's key in the election
  int64_t rev = 0;    // its creation revision: grows with every campaign
  int64_t lease = 0;  // the lease it lives on
};

class Election {
 public:
  virtual ~Election() = default;

  // A new lease of `ttl_s` seconds; *granted_s: the TTL the server gave
  // (it may raise a small one).
  virtual StatusOr<int64_t> Grant(int64_t ttl_s, int64_t* granted_s) = 0;
  // Renews `lease`: its remaining TTL in seconds, kNotFound once it expired.
  virtual StatusOr<int64_t> KeepAlive(int64_t lease) = 0;
  // Blocks until this candidate (value = its address) leads, up to
  // `timeout_ms` (kTimeout; the campaign is then withdrawn), or Cancel().
  virtual StatusOr<LeaderKey> Campaign(int64_t lease, const std::string& value,
                                       int64_t timeout_ms) = 0;
  // The leader's value (address); kNotFound while nobody leads.
  virtual StatusOr<std::string> Leader() = 0;
  // While `key` still leads: an epoch above every earlier leader's claim and
  // at least `floor`, recorded for the next leader. kNotHeld: `key` no
  // longer leads.
  virtual StatusOr<uint64_t> ClaimEpoch(const LeaderKey& key, uint64_t floor) = 0;
  // Ends the lease now (its key goes: the next candidate leads at once).
  virtual Status Revoke(int64_t lease) = 0;
  // Makes a Campaign in progress return (kCancelled) and every later call
  // fail fast. For shutdown.
  virtual void Cancel() = 0;
};

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_ELECTION_ELECTION_H_
