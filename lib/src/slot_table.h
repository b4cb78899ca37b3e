// The segment's table of named limiter slots: define, find, update and
// retire, lock-free over the slot status words (see layout.h).
//
// Invariants:
//  1. Slots are claimed in index order (EMPTY -> INIT by CAS), so the used
//     slots form a prefix and a name lives in at most one slot: a definer
//     that meets an INIT slot waits for it (or takes it over if its pid is
//     gone) before comparing names.
//  2. name and params_off are written before status leaves INIT (release);
//     readers load status with acquire before reading them.
//  3. Parameter changes are serialised per slot by READY -> UPDATING (pid
//     and PID-namespace tag; taken over only from a pid of our namespace that
//     is gone), write the slot's unpublished record bank and publish it by a
//     release store of params_off (params.h). Ring words and holder entries
//     a change rewrites are sealed (atomic exchange with kSealed) before
//     their values are read, so no grant on them can be lost; the ring is
//     rewritten in place (sliding.h invariant 7, lease_table.h invariant 7)
//     unless it must grow past its capacity.
//  4. Space: a limiter allocates its two record banks and its ring once;
//     only a ring growing past its capacity allocates again (at least
//     doubling), so any number of changes runs in bounded arena space.
#ifndef SLUICE_SRC_SLOT_TABLE_H_
#define SLUICE_SRC_SLOT_TABLE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mapping.h"
#include "params.h"
#include "sluice/limiter_spec.h"
#include "sluice/status.h"

namespace sluice::slots {

// Index of the slot holding `name`, defining or updating it as needed.
StatusOr<uint32_t> Define(Mapping& m, std::string_view name, const LimiterSpec& spec);
// Index of live limiter `name`; kNotFound otherwise.
StatusOr<uint32_t> Find(const Mapping& m, std::string_view name);
// Indexes of live limiters, in slot order.
std::vector<uint32_t> List(const Mapping& m);
Status Retire(Mapping& m, std::string_view name);
// Finishes a parameter change that a dead process left half done (its ring
// sealed, the slot UPDATING): called by a caller that keeps meeting a
// sealed ring. No-op otherwise.
Status Repair(Mapping& m, uint32_t index);
// The first decision at or after the published record's stage end (a
// global limiter's share or fallback lapsing) applies the next stage, if
// nobody did since `seen_word` was published. Never waits: kTimeout when
// another process is changing the limiter (the caller denies meanwhile).
Status Lapse(Mapping& m, uint32_t index, uint64_t seen_word, int64_t now);
// Publishes a share for global limiter `index` (share_* and fallback_*
// fields and epoch of `share`; the rest is kept). kExists for an epoch
// older than the one in force, kInvalidArgument for a local limiter.
Status PublishShare(Mapping& m, uint32_t index, const ShareState& share, int64_t now);
// The slot's name (bounded read).
std::string NameOf(const SlotLayout& slot);

}  // namespace sluice::slots

#endif  // SLUICE_SRC_SLOT_TABLE_H_
