#include "lease_queue.h"

#include <algorithm>

#include "platform.h"

namespace sluice::lease {
namespace {

constexpr uint64_t kUsMask = (uint64_t{1} << 48) - 1;
// queue_since's top 16 bits: a set bit, then the low 15 bits of the ticket
// served (0, the initial value, matches no ticket).
uint64_t Tag(uint32_t serving) { return (uint64_t{0x8000} | (serving & 0x7fff)) << 48; }
uint32_t ServingOf(uint64_t w) { return uint32_t(w); }
uint32_t GoneOf(uint64_t w) { return uint32_t(w >> 32); }
uint64_t Word(uint32_t serving, uint32_t gone) { return uint64_t{gone} << 32 | serving; }

}  // namespace

bool Queue::Empty() const { return uint32_t(next_->load(std::memory_order_seq_cst)) == Serving(); }

uint32_t Queue::TakeTicket() { return uint32_t(next_->fetch_add(1, std::memory_order_seq_cst)); }

uint32_t Queue::Serving() const { return ServingOf(serving_->load(std::memory_order_seq_cst)); }

int64_t Queue::Ahead(uint32_t ticket) const {
  const uint32_t d = ticket - Serving();  // modulo 2^32
  return d < kMaxAhead ? int64_t(d) : -1;
}

int64_t Queue::ServedSince(uint32_t serving, int64_t now) {
  uint64_t s = since_->load(std::memory_order_seq_cst);
  if ((s & ~kUsMask) != Tag(serving)) {
    // Not stored (its waiter may have died before it could): from now on.
    since_->compare_exchange_strong(s, Tag(serving) | (uint64_t(now / 1000) & kUsMask),
                                    std::memory_order_seq_cst);
    return now;
  }
  // Rebuild the full time from `now`'s high bits (48 bits of us: 8.9 years).
  const int64_t now_us = now / 1000;
  int64_t t = int64_t((uint64_t(now_us) & ~kUsMask) | (s & kUsMask));
  if (t > now_us) t -= int64_t(kUsMask + 1);
  return std::min(now, t * 1000);
}

bool Queue::MoveOn(uint32_t ticket, int64_t now) {
  uint64_t w = serving_->load(std::memory_order_seq_cst);
  uint32_t s = 0;
  for (;;) {
    if (ServingOf(w) != ticket) return false;
    // Past the tickets marked gone right after it (at most 32).
    s = ticket;
    uint32_t gone = GoneOf(w);
    bool skip = true;
    while (skip) {
      skip = (gone & 1) != 0;
      gone >>= 1;
      ++s;
    }
    if (serving_->compare_exchange_weak(w, Word(s, gone), std::memory_order_seq_cst)) break;
  }
  since_->store(Tag(s) | (uint64_t(now / 1000) & kUsMask), std::memory_order_seq_cst);
  return true;
}

bool Queue::Leave(uint32_t ticket, int64_t now) {
  uint64_t w = serving_->load(std::memory_order_seq_cst);
  for (;;) {
    const uint32_t d = ticket - ServingOf(w);
    if (d == 0) return MoveOn(ticket, now);
    if (d > 32) return false;  // behind (moved past), or too far to mark (invariant 3)
    const uint64_t marked = w | (uint64_t{1} << (32 + d - 1));
    if (serving_->compare_exchange_weak(w, marked, std::memory_order_seq_cst)) return false;
  }
}

void Register(const Table& t, uint32_t ticket) {
  if (t.waiters == nullptr) return;
  t.waiters[ticket % kWaiterSlots].store(uint64_t{platform::Pid()} << 32 | ticket,
                                         std::memory_order_seq_cst);
}

bool ServedWaiterDied(const Table& t, uint32_t serving) {
  if (t.waiters == nullptr) return false;
  const uint64_t w = t.waiters[serving % kWaiterSlots].load(std::memory_order_seq_cst);
  const uint32_t pid = uint32_t(w >> 32);
  return uint32_t(w) == serving && pid != 0 && !platform::ProcessMayBeAlive(pid);
}

int64_t FreeSince(const Table& t, int64_t now, int64_t* next_lapse) {
  int64_t free_since = INT64_MAX;
  *next_lapse = INT64_MAX;
  for (uint64_t i = 0; i < t.len; ++i) {
    const HolderEntry& h = t.entries[i];
    const int64_t e = h.expiry.load(std::memory_order_relaxed);
    if (e == kSealed) continue;
    if (e > now) {
      *next_lapse = std::min(*next_lapse, e);
    } else if (e > 0) {
      free_since = std::min(free_since, e);  // lapsed at e
    } else {
      // Released (or never used): free from its release time on.
      const int64_t since = h.free_since_ns.load(std::memory_order_relaxed);
      if (since <= now) free_since = std::min(free_since, since);
    }
  }
  return free_since;
}

}  // namespace sluice::lease
