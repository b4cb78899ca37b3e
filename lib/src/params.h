// Limiter parameters in shared memory: the slot's two ParamsRecord banks,
// rings and holder tables, and their validated, ready-to-use ActiveParams.
//
// Invariants (layout.h has the words):
//  1. A change writes the bank params_off does not name, then publishes it
//     (release store of ParamsWord(gen + 1, bank)). A bank is rewritten only
//     two changes after it was published last.
//  2. A reader copies the record word by word (relaxed atomic loads), then
//     (acquire fence) checks that params_off still holds the word it started
//     from. Unchanged means no change began rewriting that bank during the
//     copy (it would have published the other bank first, invariant 1), so
//     the copy is one whole record; otherwise it reads again.
//  3. Rings and tables are rewritten in place (slot_table.cc); a decision
//     that changed a ring word or holder entry checks params_off after its
//     CAS and does not use a grant whose parameters were replaced meanwhile
//     (sliding.h, lease_table.h), which makes in-place reuse safe.
#ifndef SLUICE_SRC_PARAMS_H_
#define SLUICE_SRC_PARAMS_H_

#include <cstdint>

#include "gcra.h"
#include "layout.h"
#include "lease_table.h"
#include "mapping.h"
#include "sliding.h"
#include "sluice/limiter_spec.h"
#include "window.h"

namespace sluice {

// Grants a live shrink could not keep in the new ring/table (ParamsRecord
// carry_count / carry_until_ns). count == 0: none (until_ns is INT64_MIN).
struct Carry {
  uint32_t count = 0;
  int64_t until_ns = INT64_MIN;
};

// Stages of a global limiter's amount (values of ParamsRecord::stage, and
// of admin::ShareStage).
enum ShareStageValue : uint32_t {
  kStageNone = 0,      // no share yet: amount 0
  kStageShare = 1,     // the share, until share_expires_ns
  kStageFallback = 2,  // the fallback, until fallback_until_ns
  kStageLapsed = 3,    // amount 0
};

// A global limiter's share bookkeeping (the fleet fields of ParamsRecord).
struct ShareState {
  uint32_t stage = kStageNone;
  int64_t stage_end_ns = INT64_MAX;  // INT64_MAX: the stage never ends
  uint64_t cap_amount = 0;           // the budget file's amount (0: none)
  uint64_t cap_burst = 0;            // gcra
  uint64_t share_amount = 0;
  uint64_t share_burst = 0;
  int64_t share_expires_ns = 0;
  uint64_t fallback_amount = 0;
  uint64_t fallback_burst = 0;
  int64_t fallback_until_ns = 0;
  uint64_t epoch = 0;
  int64_t drained_ns = 0;
};

// The amounts a share gives at `now`, cut to the caps.
struct StageAmounts {
  uint32_t stage = kStageNone;
  int64_t end_ns = INT64_MAX;
  uint64_t amount = 0;  // 0: closed
  uint64_t burst = 0;   // gcra
};
StageAmounts StageAt(const ShareState& s, Algorithm algorithm, int64_t now);

// `shape` (the declared spec: algorithm, period/window/ttl, reclaim) with
// the amount of `a`: rate+burst, limit or holders. Closed (a.amount == 0):
// the amount fields are 0.
LimiterSpec WithAmount(const LimiterSpec& shape, uint64_t amount, uint64_t burst);

// A validated view of the published record. Trivially copyable; process-local.
struct ActiveParams {
  uint64_t off = 0;       // the params_off word it was read under
  uint64_t ring_off = 0;  // its ring / holder table (0: none)
  uint64_t ring_cap = 0;
  bool writable = false;  // the handle may decide (false: read-only mapping)
  bool closed = false;    // amount 0: every decision is denied (not "never")
  // Decisions at now < hot_until_ns need nothing but the algorithm; at or
  // after it the share lapses (or the limiter is closed): Limiter::Decide.
  int64_t hot_until_ns = INT64_MAX;
  LimiterSpec spec;      // in force (global: amounts from the share; 0 closed)
  LimiterSpec declared;  // as defined (global: the amounts are caps, 0 none)
  LimiterSpec basis;     // the record's amounts: == spec unless closed, when
                         // gcra/window keep their last ones (state units)
  gcra::Params gcra;     // gcra: in force, or while closed the last amounts
  window::Params window;
  sliding::Ring ring;
  lease::Table table;
  Carry carry;
  ShareState share;
  uint64_t amount_gen = 0;   // ParamsRecord::amount_gen
  int64_t published_ns = 0;  // ParamsRecord::published_ns

  // Permits that can never be granted at once: > this (global: the cap,
  // or the algorithm's maximum).
  uint64_t MaxPermits() const;
};

// Reads, validates and returns the published record of `slot`: magic,
// algorithm, parameter ranges, ring/holder arrays inside the arena. Never
// reads out of bounds, whatever the segment holds. kCorrupt when the record
// fails validation; kIo if it keeps changing under the reader.
StatusOr<ActiveParams> LoadParams(const Mapping& m, SlotLayout* slot);

// Everything a change writes into a record.
struct RecordDraft {
  LimiterSpec spec;      // in force; for a closed gcra/window: the last amounts
  LimiterSpec declared;  // global: caps in the amount fields
  bool closed = false;
  uint64_t ring_off = 0;
  uint64_t ring_cap = 0;
  Carry carry;
  ShareState share;
  uint64_t amount_gen = 0;
  int64_t published_ns = 0;
};
// Writes `d` into the slot's unpublished bank; returns the params_off word
// that publishes it (the caller stores it with release, after whatever must
// come first). REQUIRES: the caller holds the slot's INIT/UPDATING baton.
StatusOr<uint64_t> WriteRecord(const Mapping& m, SlotLayout* slot, const RecordDraft& d);
// The slot's two record banks: allocated when the slot is defined.
StatusOr<uint64_t> AllocateRecords(Mapping& m);

// A ring (sliding) or holder table (lease) of `cap` entries, every one
// sealed (kSealed); the caller opens the first `len`. 0 for other
// algorithms or cap 0.
StatusOr<uint64_t> AllocateRing(Mapping& m, Algorithm algorithm, uint64_t cap);
// Bytes of a ring/holder array of `cap` entries (0 for gcra and window).
uint64_t RingBytes(Algorithm algorithm, uint64_t cap);
// Capacity to allocate for `len` entries when a ring of `cap` is too small:
// at least double (so reallocations are few), at most the maximum.
uint64_t GrownCap(Algorithm algorithm, uint64_t cap, uint64_t len);
// The ring length (sliding: limit, lease: holders) of a spec; 0 otherwise.
uint64_t RingLen(const LimiterSpec& spec);

}  // namespace sluice

#endif  // SLUICE_SRC_PARAMS_H_
