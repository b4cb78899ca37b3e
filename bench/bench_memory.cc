// memory: shared-memory bytes per limiter and per sliding/lease slot, from
// the layout's sizeofs and from the arena growth each Define causes.
#include <string>

#include "bench_util.h"
#include "commands.h"
#include "layout.h"

namespace sluice_bench {
namespace {

uint64_t ArenaDelta(ScratchSegment& s, const std::string& name, const sluice::LimiterSpec& spec) {
  const uint64_t before = s.segment().Info().arena_used;
  s.Define(name, spec);
  return s.segment().Info().arena_used - before;
}

}  // namespace

int RunMemory(const Args&) {
  ScratchSegment s("memory", 0);
  JsonLine()
      .Str("bench", "memory")
      .Int("header_bytes", int64_t(sluice::kHeaderSize))
      .Int("slot_bytes", int64_t(sizeof(sluice::SlotLayout)))
      .Int("params_bytes", int64_t(sizeof(sluice::ParamsRecord)))
      .Int("ring_header_bytes", int64_t(sizeof(sluice::RingHeader)))
      .Int("holder_bytes", int64_t(sizeof(sluice::HolderEntry)))
      .Int("default_capacity", int64_t(s.segment().Info().capacity))
      .Int("default_total_bytes", int64_t(s.segment().Info().total_bytes))
      .Print();
  const int64_t kS = 1000000000;
  const struct {
    const char* name;
    sluice::LimiterSpec spec;
  } cases[] = {
      {"gcra", sluice::LimiterSpec::Gcra(100, kS, 10)},
      {"window", sluice::LimiterSpec::Window(100, kS)},
      {"sliding-1000", sluice::LimiterSpec::Sliding(1000, kS)},
      {"sliding-100000", sluice::LimiterSpec::Sliding(100000, kS)},
      {"lease-16", sluice::LimiterSpec::Lease(16, kS, false)},
  };
  for (const auto& c : cases) {
    JsonLine()
        .Str("bench", "memory-define")
        .Str("limiter", c.name)
        .Int("arena_bytes", int64_t(ArenaDelta(s, c.name, c.spec)))
        .Int("slot_bytes", int64_t(sizeof(sluice::SlotLayout)))
        .Print();
  }
  return 0;
}

}  // namespace sluice_bench
