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
  LimiterSpec spec;  // when params.ok(): as defined (global: amounts are caps)
};

// Every used slot, in slot order (used slots form a prefix of the table).
std::vector<SlotEntry> ListSlots(const Segment& seg);

// A limiter's fleet share as published (params.h ShareState), with the
// parameters in force.
struct ShareView {
  LimiterSpec declared;  // global: the amounts are caps (0: none)
  LimiterSpec in_force;  // amounts 0 while closed
  bool closed = false;
  uint32_t stage = 0;  // params.h ShareStageValue
  int64_t stage_end_ns = INT64_MAX;
  uint64_t share_amount = 0, share_burst = 0;
  int64_t share_expires_ns = 0;
  uint64_t fallback_amount = 0, fallback_burst = 0;
  int64_t fallback_until_ns = 0;
  uint64_t epoch = 0;
  int64_t drained_ns = 0;
  uint64_t changes = 0;       // parameter changes published (defined_seq)
  uint64_t demand_milli = 0;  // permits asked per second * 1000
};
// As of `now`: a stage that ended by then (no decision has lapsed it yet)
// is shown as the stage a decision would apply. REQUIRES: index <
// Info().capacity.
StatusOr<ShareView> ReadShare(const Segment& seg, uint32_t index, int64_t now);
// The share fields and epoch of `share` for global limiter `index`, as of
// `now` (slots::PublishShare).
struct ShareInput {
  uint64_t amount = 0, burst = 0;
  int64_t expires_ns = 0;
  uint64_t fallback_amount = 0, fallback_burst = 0;
  int64_t fallback_until_ns = 0;
  uint64_t epoch = 0;
};
Status PublishShare(const Segment& seg, uint32_t index, const ShareInput& share, int64_t now);

// OK if the caller owns the segment file (as seen when it was attached);
// else kPermission saying whose it is and how to take it back. Creating or
// applying writes as the namespace's admin: never into another user's.
Status CheckOwnedByCaller(const Segment& seg);

// Arena bytes a Define of `after` may allocate (an upper bound), over a
// limiter now defined as `*before` (nullptr: a new limiter).
uint64_t DefineArenaBytes(const LimiterSpec* before, const LimiterSpec& after);

}  // namespace sluice::admin_access

#endif  // SLUICE_SRC_ADMIN_ACCESS_H_
