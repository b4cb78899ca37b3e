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

// A validated view of one ParamsRecord. Immutable; process-local.
struct ActiveParams {
  uint64_t off = 0;  // the record's offset (compared with params_off)
  uint64_t ring_off = 0;  // its ring / holder table (0: none)
  bool writable = false;  // the handle may decide (false: read-only mapping)
  LimiterSpec spec;
  gcra::Params gcra;
  window::Params window;
  sliding::Ring ring;
  lease::Table table;
};

// Reads and validates the record at `off` for `slot`: magic, algorithm,
// parameter ranges, ring/holder arrays inside the arena. Never reads out of
// bounds, whatever the segment holds.
StatusOr<ActiveParams> LoadParams(const Mapping& m, SlotLayout* slot, uint64_t off);

// Allocates and fills a record for `spec` whose ring/holder array is
// `ring_off` (0: allocate a fresh one, initialised free). Not yet published.
StatusOr<uint64_t> WriteParams(Mapping& m, const LimiterSpec& spec, uint64_t ring_off,
                               int64_t gate_until_ns);

// Bytes of the ring/holder array `spec` needs (0 for gcra and window).
uint64_t RingBytes(const LimiterSpec& spec);

}  // namespace sluice

#endif  // SLUICE_SRC_PARAMS_H_
