// Which allotter divides, when several run (docs/fleet.md, "Operations"):
// only the one that leads the election, and only while its leadership is
// surely held. Wraps the Allotter: a new one (new epoch, learning) at every
// election won, none while following. Pure: time is passed in. Thread-safe
// (one mutex: the daemon's Refresh calls and the campaigner's events).
//
// Invariants:
// 1. Refresh divides only while now < valid_until = alive_ns + Shrink(ttl),
//    where alive_ns is the send time of a call that found the election lease
//    alive. The election expires the lease ttl after it received its last
//    renewal (after alive_ns), and only then can another candidate win: so
//    every answer of this leader is computed as of a time before a
//    successor's first. (An answer computed or delivered later, by a paused
//    thread or process, is a late answer: the host counts its lease from its
//    request's send, before that time, so 3 covers it, and 2 refuses it once
//    the host holds the successor's share.)
// 2. Each leadership has its own epoch, above every earlier leader's
//    (Election::ClaimEpoch), so hosts refuse a deposed leader's late answers
//    once they hold the successor's share.
// 3. A new leadership starts a new Allotter, learning what hosts hold: as
//    after a restart, it grows no host until every grant of the previous
//    leader has lapsed and drained (invariant 3 of allotter.h).
#ifndef SLUICE_FLEET_ALLOTTER_LEADERSHIP_H_
#define SLUICE_FLEET_ALLOTTER_LEADERSHIP_H_

#include <memory>
#include <mutex>
#include <string>

#include "allotter.h"

namespace sluice::fleet {

class Leadership {
 public:
  Leadership(AllotterConfig config, Allotter::Logger log = nullptr);

  // This process leads from now_ns with `epoch`: a new Allotter, learning.
  // The election lease was alive when a call sent at alive_ns succeeded.
  void Lead(uint64_t epoch, int64_t now_ns, int64_t alive_ns, int64_t ttl_ns);
  // A renewal sent at alive_ns succeeded (the bound never moves back).
  void Renew(int64_t alive_ns, int64_t ttl_ns);
  // Leads with no election (a single allotter): never lapses.
  void LeadAlone(uint64_t epoch, int64_t now_ns);
  // Another process leads, at `leader` (empty: none known). Drops the Allotter.
  void Follow(const std::string& leader);

  // Answers as the leader; else kNotHeld, with *leader the leader's address
  // (empty: none known).
  StatusOr<RefreshOut> Refresh(const RefreshIn& in, int64_t now_ns, std::string* leader);

  // SIGHUP: the leader's Allotter::Reconfigure (refused whole, nothing
  // changed, on error); the config every later leadership starts from.
  // A standby refuses what a leader would (CheckReconfigure).
  Status Reconfigure(AllotterConfig next, int64_t now_ns);

  bool Leading(int64_t now_ns) const;
  // The allotter's figures (metrics); while following, `leading` false and
  // nothing else but the counters (refreshes, refused: this process's, all
  // leaderships together).
  AllotterView View(int64_t now_ns) const;
  uint64_t epoch() const;  // 0 while following
  AllotterConfig config() const;

 private:
  AllotterConfig config_;  // guarded by mu_
  Allotter::Logger log_;
  mutable std::mutex mu_;
  std::unique_ptr<Allotter> allotter_;  // null while following
  // Refreshes answered and refused by the Allotters of earlier leaderships:
  // View's counters never move back (they are Prometheus counters).
  uint64_t past_refreshes_ = 0;
  uint64_t past_refused_ = 0;
  // Replaces allotter_ (null: follows), keeping its counts. REQUIRES: mu_.
  void Replace(std::unique_ptr<Allotter> next);
  int64_t valid_until_ = 0;
  std::string leader_;
  bool lapsed_logged_ = false;
};

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_ALLOTTER_LEADERSHIP_H_
