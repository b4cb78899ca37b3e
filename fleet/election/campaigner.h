// Campaigns for leadership and keeps it: a lease kept alive every ttl/4, a
// campaign that blocks until this candidate leads, an epoch claimed under
// the leadership, and the leader's address watched while following. Reports
// what it learns through Events; the receiver (the allotter's Leadership)
// decides what that allows. Thread-safe; runs two threads between Start()
// and Stop().
//
// Events are delivered in order, one at a time:
//   lead(epoch, alive_ns, ttl_ns)  this process leads; the lease was alive
//                                  when a call sent at alive_ns succeeded
//   renew(alive_ns, ttl_ns)        a keepalive sent at alive_ns succeeded
//   follow(address)                another leads (empty: none known); also
//                                  when this process stops leading
// etcd expires a lease ttl after it RECEIVED the last keepalive, which is
// after alive_ns: so a leader that stops dividing at alive_ns + ttl (less a
// drift margin) stops before its key can go and another can win.
#ifndef SLUICE_FLEET_ELECTION_CAMPAIGNER_H_
#define SLUICE_FLEET_ELECTION_CAMPAIGNER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "election.h"

namespace sluice::fleet {

struct CampaignOptions {
  std::string address;  // this candidate's address, told to forwarders
  int64_t ttl_s = 5;    // the election lease (etcd may raise it)
  // The least epoch this process may take (the daemon: CLOCK_REALTIME µs).
  std::function<uint64_t()> epoch_floor;
  std::function<int64_t()> clock;  // CLOCK_MONOTONIC ns
};

class Campaigner {
 public:
  struct Events {
    std::function<void(uint64_t epoch, int64_t alive_ns, int64_t ttl_ns)> lead;
    std::function<void(int64_t alive_ns, int64_t ttl_ns)> renew;
    std::function<void(const std::string& leader)> follow;
    std::function<void(const std::string& line)> log;
  };

  Campaigner(Election* election, CampaignOptions options, Events events);
  ~Campaigner();  // Stop()
  Campaigner(const Campaigner&) = delete;
  Campaigner& operator=(const Campaigner&) = delete;

  void Start();
  // Stops leading (follow("")), then revokes the lease so that another
  // candidate leads at once, and joins the threads.
  void Stop();

 private:
  void CampaignLoop();
  void KeepLoop();
  void Log(const std::string& line);
  // Waits up to `ms` or until Stop(). Returns false once stopping.
  bool Wait(std::unique_lock<std::mutex>& lock, int64_t ms);

  Election* election_;
  CampaignOptions options_;
  Events events_;
  std::mutex mu_;  // guards everything below; held while an event is delivered
  std::condition_variable cv_;
  bool stop_ = false;
  int64_t lease_ = 0;  // 0: none
  int64_t ttl_ns_ = 0;
  int64_t alive_ns_ = 0;  // send time of the last call that found the lease alive
  bool leading_ = false;
  std::string leader_;  // last followed address
  bool followed_ = false;
  std::thread campaign_thread_, keep_thread_;
};

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_ELECTION_CAMPAIGNER_H_
