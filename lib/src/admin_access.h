// What the admin library (admin/: budget files, apply, inspection) reaches
// of the core beyond the public API, through the Segment it already holds:
// every used slot (retired and damaged ones too), a slot's fleet words, the
// file's owner and what a define may cost in arena space. Internal: not in
// the worker ABI (not exported from libsluice.so), never installed.
#ifndef SLUICE_SRC_ADMIN_ACCESS_H_
#define SLUICE_SRC_ADMIN_ACCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sluice/limiter_spec.h"
#include "sluice/segment.h"
#include "sluice/status.h"

namespace sluice::admin_access {

enum class SlotUse {
  kLive,     // ready, or being updated
  kRetired,  // hidden from Find/List, state kept
  kBusy,     // being defined (INIT)
  kInvalid,  // a status word no library writes (a damaged segment)
};

struct SlotEntry {
  uint32_t index = 0;
  std::string name;  // raw bytes from the segment: escape before printing
  SlotUse use = SlotUse::kInvalid;
  Status params;     // OK, or why its parameter record cannot be used
  LimiterSpec spec;  // when params.ok()
};

// Every used slot, in slot order (used slots form a prefix of the table).
std::vector<SlotEntry> ListSlots(const Segment& seg);

// The words the fleet forwarder and the inspector share with a limiter.
struct FleetWords {
  uint64_t allocation = 0;            // this host's share
  int64_t allocation_expires_ns = 0;  // CLOCK_MONOTONIC; 0: never set
  uint64_t demand_milli = 0;          // permits asked per second * 1000
};
// REQUIRES: index < Info().capacity.
FleetWords ReadFleetWords(const Segment& seg, uint32_t index);
// kPermission on a read-only mapping.
Status WriteFleetWords(const Segment& seg, uint32_t index, const FleetWords& w);

// OK if the caller owns the segment file (as seen when it was attached);
// else kPermission saying whose it is and how to take it back. Creating or
// applying writes as the namespace's admin: never into another user's.
Status CheckOwnedByCaller(const Segment& seg);

// Arena bytes a Define of `after` may allocate (an upper bound), over a
// limiter now defined as `*before` (nullptr: a new limiter).
uint64_t DefineArenaBytes(const LimiterSpec* before, const LimiterSpec& after);

}  // namespace sluice::admin_access

#endif  // SLUICE_SRC_ADMIN_ACCESS_H_
