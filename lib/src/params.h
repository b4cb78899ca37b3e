// Limiter parameters in shared memory: writing immutable ParamsRecords and
// turning a published record into a validated, ready-to-use ActiveParams.
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

// A validated view of one ParamsRecord. Immutable; process-local.
struct ActiveParams {
  uint64_t off = 0;       // the record's offset (compared with params_off)
  uint64_t ring_off = 0;  // its ring / holder table (0: none)
  bool writable = false;  // the handle may decide (false: read-only mapping)
  LimiterSpec spec;
  gcra::Params gcra;
  window::Params window;
  sliding::Ring ring;
  lease::Table table;
  Carry carry;
};

// Reads and validates the record at `off` for `slot`: magic, algorithm,
// parameter ranges, ring/holder arrays inside the arena. Never reads out of
// bounds, whatever the segment holds.
StatusOr<ActiveParams> LoadParams(const Mapping& m, SlotLayout* slot, uint64_t off);

// Arena space for one record and, when asked, a fresh ring/holder array
// (initialised free). Allocated before a change seals anything, so nothing
// after the seal can fail for lack of space.
struct ParamsSpace {
  uint64_t rec_off = 0;
  uint64_t ring_off = 0;
};
StatusOr<ParamsSpace> AllocateParams(Mapping& m, const LimiterSpec& spec, bool fresh_ring);

// Fills the record at space.rec_off for `spec`, its ring/holder array at
// space.ring_off. Not yet published. Returns rec_off.
StatusOr<uint64_t> FillParams(Mapping& m, const LimiterSpec& spec, ParamsSpace space, Carry carry);

// AllocateParams + FillParams: a record whose ring/holder array is
// `ring_off` (0: allocate a fresh one). Not yet published.
StatusOr<uint64_t> WriteParams(Mapping& m, const LimiterSpec& spec, uint64_t ring_off, Carry carry);

// Bytes of the ring/holder array `spec` needs (0 for gcra and window).
uint64_t RingBytes(const LimiterSpec& spec);

}  // namespace sluice

#endif  // SLUICE_SRC_PARAMS_H_
