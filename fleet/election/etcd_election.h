// An Election over etcd (3.4 or later) through its JSON gateway: leases
// (/v3/lease/*), the election service (/v3/election/*) and one key,
// NAME-epoch, holding the last leader's epoch (/v3/kv/*). Speaks plain
// HTTP to the first endpoint that answers. Thread-safe (a client per call).
//
// Epochs: the leader key's creation revision orders the leaders; the epoch
// itself is max(floor, the recorded epoch + 1), written by a transaction
// that succeeds only while the leader key with that revision exists. So
// every leader's epoch is above every earlier leader's (the earlier one
// wrote before its key went, the later reads after its key came), and stays
// near CLOCK_REALTIME µs (the floor), the epochs a single allotter without
// etcd takes: switching to or from etcd, or wiping etcd, keeps epochs
// growing as long as clocks are roughly right.
#ifndef SLUICE_FLEET_ELECTION_ETCD_ELECTION_H_
#define SLUICE_FLEET_ELECTION_ETCD_ELECTION_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "election.h"

namespace httplib {
class Client;
}

namespace sluice::fleet {

class EtcdElection final : public Election {
 public:
  // endpoints: "http://host:port" each (a comma list parsed by
  // ParseEndpoints); name: the election's name (its keys' prefix).
  EtcdElection(std::vector<std::string> endpoints, std::string name);
  ~EtcdElection() override;

  StatusOr<int64_t> Grant(int64_t ttl_s, int64_t* granted_s) override;
  StatusOr<int64_t> KeepAlive(int64_t lease) override;
  StatusOr<LeaderKey> Campaign(int64_t lease, const std::string& value,
                               int64_t timeout_ms) override;
  StatusOr<std::string> Leader() override;
  StatusOr<uint64_t> ClaimEpoch(const LeaderKey& key, uint64_t floor) override;
  Status Revoke(int64_t lease) override;
  void Cancel() override;

  // "http://a:2379,http://b:2379" -> endpoints; kInvalidArgument when one is
  // not http://host:port.
  static StatusOr<std::vector<std::string>> ParseEndpoints(const std::string& list);

 private:
  // POSTs `body` (JSON) to `path` on the first endpoint that answers;
  // the reply's body, or kIo / kNotFound / kInternal from etcd's error.
  StatusOr<std::string> Post(const std::string& path, const std::string& body, int64_t timeout_ms,
                             bool cancellable);

  std::vector<std::string> endpoints_;
  std::string name_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;                        // guards campaign_
  httplib::Client* campaign_ = nullptr;  // the blocking call in flight
  std::atomic<size_t> preferred_{0};     // the endpoint that answered last
};

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_ELECTION_ETCD_ELECTION_H_
