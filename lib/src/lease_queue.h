// Fair hand-over for blocked lease waiters: tickets in shared memory, no
// lock. Waiters are granted in arrival order (as ZooKeeper's lock recipe);
// a non-blocking try may still take a free holder at once.
//
// State (SlotLayout, lease limiters only): `state` is the next ticket
// (fetch_add; tickets compare modulo 2^32); `queue_serving` is the ticket
// served (low 32 bits) and, in its high 32 bits, which of the 32 tickets
// after it have left the queue (bit i: ticket served + 1 + i); `queue_since`
// is (0x8000 | low 15 bits of the ticket served) << 48 | the time (us, 48
// bits) it became the one served.
//
// Invariants:
//  1. A blocking waiter that cannot be granted at once takes a ticket (or
//     takes one on arrival when others are queued). Only the waiter whose
//     ticket is served claims a holder; once it has one, or gives up, it
//     moves `queue_serving` on (CAS, from its own ticket only, so no ticket
//     is moved on twice), past every following ticket marked as gone.
//  2. A waiter that gives up (timeout, cancel, "never") before its turn
//     marks its ticket gone (CAS on the same word), so it costs those
//     behind it nothing, if it is within 32 of the ticket served.
//  3. Each waiter names itself (pid, ticket) in the table's waiter slot
//     ticket % kWaiterSlots (layout.h). Anything waiting moves on from the
//     ticket served at once when that slot names it and its process is
//     certainly gone (a waiter killed while queued), else once a holder has
//     been free for kSkipNs while that ticket was served (its waiter is
//     stuck, died before it named itself, was overwritten by a ticket
//     kWaiterSlots later, or gave up too far back to mark). So a waiter
//     that leaves delays the others by at most kSkipNs plus a wake-up,
//     once, and usually not at all. A live waiter that was moved past (it slept through kSkipNs)
//     still competes for free holders, out of order; it is never stranded.
//  4. The tickets only order claims; the holder table alone keeps the
//     holder count and fencing order (lease_table.h), so any value of these
//     words (damage included) costs fairness, never a guarantee: a ticket
//     behind the one served, or implausibly far ahead (kMaxAhead), competes
//     freely.
// Memory order: seq_cst throughout (slow path, next to futex syscalls).
#ifndef SLUICE_SRC_LEASE_QUEUE_H_
#define SLUICE_SRC_LEASE_QUEUE_H_

#include <atomic>
#include <cstdint>

#include "lease_table.h"

namespace sluice::lease {

constexpr int64_t kSkipNs = 10 * 1000 * 1000;  // 10 ms
constexpr uint32_t kMaxAhead = 1u << 20;

class Queue {
 public:
  Queue(std::atomic<int64_t>* next, std::atomic<uint64_t>* serving, std::atomic<uint64_t>* since)
      : next_(next), serving_(serving), since_(since) {}

  bool Empty() const;
  uint32_t TakeTicket();
  // 0: served; > 0: tickets ahead of it; < 0: behind or implausible
  // (competes freely, invariant 4).
  int64_t Ahead(uint32_t ticket) const;
  uint32_t Serving() const;
  // When `serving` became the ticket served (ns). Not known yet (its
  // waiter took it on an empty queue, or died first): stores `now` as that
  // time and returns it, so a dead first waiter is moved past too.
  int64_t ServedSince(uint32_t serving, int64_t now);
  // Moves on from `ticket` to the next ticket not gone; false if `ticket`
  // was not the one served. Invariants 1 and 3.
  bool MoveOn(uint32_t ticket, int64_t now);
  // `ticket` gives up: moves on if it is served, else marks it gone
  // (invariant 2). True when the ticket served changed (wake the others).
  bool Leave(uint32_t ticket, int64_t now);

 private:
  std::atomic<int64_t>* next_;
  std::atomic<uint64_t>* serving_;
  std::atomic<uint64_t>* since_;
};

// Names this process as the waiter of `ticket` in t's waiter slots.
void Register(const Table& t, uint32_t ticket);
// True when t's waiter slots name `serving`'s waiter and that process is
// certainly gone (invariant 3: moved past at once).
bool ServedWaiterDied(const Table& t, uint32_t serving);

// The earliest time since which some entry of `t` has been free at `now`
// (released or lapsed; reclaimable dead holders are not seen), or
// INT64_MAX when none is; *next_lapse: the soonest expiry of a held entry
// (INT64_MAX if none).
int64_t FreeSince(const Table& t, int64_t now, int64_t* next_lapse);

}  // namespace sluice::lease

#endif  // SLUICE_SRC_LEASE_QUEUE_H_
