// libFuzzer target: budget files: parse + validate + plan against a segment.
// Input: budget-file text. Properties: ParseBudget never crashes and
// reports errors as "fuzz.toml:LINE:COL: message"; an accepted budget's
// limiters validate; PlanBudget against a segment holding one limiter of
// each algorithm (and a retired one) returns a plan or an error, and the
// plan formats. Nothing is applied.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "sluice/admin/budget_apply.h"
#include "sluice/admin/budget_file.h"
#include "sluice/segment.h"

namespace {

const std::string& PlanNamespace() {
  static const std::string ns = [] {
    const std::string& n = sluice::fuzz::ProcessNamespace("budget");
    sluice::OpenOptions o;
    o.create = true;
    o.capacity = 16;
    o.arena_bytes = 1 << 16;
    sluice::StatusOr<sluice::Segment> seg = sluice::Segment::Open(n, o);
    if (!seg.ok()) std::abort();
    const sluice::LimiterSpec specs[] = {
        sluice::LimiterSpec::Gcra(100, 1000000000, 10),
        sluice::LimiterSpec::Window(5, 800000000),
        sluice::LimiterSpec::Sliding(5, 800000000),
        sluice::LimiterSpec::Lease(1, 250000000, true),
        sluice::LimiterSpec::Sliding(3, 1000000),
    };
    const char* names[] = {"partner-api", "window", "search", "db-migration", "old"};
    for (int i = 0; i < 5; ++i) {
      if (!seg->Define(names[i], specs[i]).ok()) std::abort();
    }
    if (!seg->Retire("old").ok()) std::abort();
    return n;
  }();
  return ns;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sluice::StatusOr<sluice::Budget> b = sluice::ParseBudget(text, "fuzz.toml");
  if (!b.ok()) {
    if (b.status().message().rfind("fuzz.toml:", 0) != 0) std::abort();
    return 0;
  }
  for (const sluice::BudgetLimiter& l : b->limiters) {
    if (!l.spec.Validate().ok()) std::abort();
  }
  sluice::ApplyOptions o;
  o.ns = PlanNamespace();
  o.dry_run = true;
  o.prune = size % 2 == 0;
  sluice::StatusOr<sluice::ApplyReport> plan = sluice::PlanBudget(*b, o);
  if (plan.ok()) (void)sluice::FormatApplyReport(*plan);
  return 0;
}
