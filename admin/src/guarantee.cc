#include "sluice/admin/guarantee.h"

#include <cassert>
#include <cstdio>

#include "sluice/duration.h"

namespace sluice {
namespace {

constexpr size_t kMaxExamples = 10;

void Record(GuaranteeReport* r, int64_t start, int64_t end, uint64_t grants, double allowed) {
  ++r->violations;
  const double excess = double(grants) - allowed;
  if (excess > r->max_excess) r->max_excess = excess;
  if (r->examples.size() < kMaxExamples) r->examples.push_back({start, end, grants, allowed});
}

// At most `limit` grants in any half-open interval [a, a + window).
void CheckSliding(uint64_t limit, int64_t window, std::span<const int64_t> t, GuaranteeReport* r) {
  size_t i = 0;
  for (size_t j = 0; j < t.size(); ++j) {
    while (t[j] - t[i] >= window) ++i;
    const uint64_t n = j - i + 1;
    if (n > limit) Record(r, t[i], t[j], n, double(limit));
  }
}

// grants in [t_i, t_j] = j - i + 1 <= burst + rate * (t_j - t_i) / period.
// With g(k) = k * period - rate * t_k the bound reads
// g(j) - g(i) + period <= burst * period; keep the running minimum of g(i).
void CheckGcra(const LimiterSpec& s, std::span<const int64_t> t, GuaranteeReport* r) {
  using i128 = __int128;
  const i128 period = s.period_ns;
  const i128 cap = i128(s.burst) * period;
  i128 min_g = 0;
  size_t min_i = 0;
  for (size_t j = 0; j < t.size(); ++j) {
    const i128 g = i128(j) * period - i128(s.rate) * t[j];
    if (j == 0 || g < min_g) {
      min_g = g;
      min_i = j;
    }
    if (g - min_g + period > cap) {
      const double allowed =
          double(s.burst) + double(s.rate) * double(t[j] - t[min_i]) / double(s.period_ns);
      Record(r, t[min_i], t[j], j - min_i + 1, allowed);
    }
  }
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

void CheckWindow(uint64_t limit, int64_t window, std::span<const int64_t> t, GuaranteeReport* r) {
  size_t start = 0;
  for (size_t j = 0; j < t.size(); ++j) {
    if (FloorDiv(t[j], window) != FloorDiv(t[start], window)) start = j;
    const uint64_t n = j - start + 1;
    if (n > limit) Record(r, t[start], t[j], n, double(limit));
  }
}

}  // namespace

GuaranteeReport CheckGuarantee(const LimiterSpec& spec, std::span<const int64_t> t) {
  GuaranteeReport r;
  r.grants = t.size();
  for (size_t i = 1; i < t.size(); ++i) assert(t[i - 1] <= t[i]);
  if (t.empty()) return r;
  switch (spec.algorithm) {
    case Algorithm::kGcra:
      CheckGcra(spec, t, &r);
      break;
    case Algorithm::kSliding:
      CheckSliding(spec.limit, spec.window_ns, t, &r);
      break;
    case Algorithm::kWindow:
      CheckWindow(spec.limit, spec.window_ns, t, &r);
      break;
    case Algorithm::kLease:
      CheckSliding(spec.holders, spec.ttl_ns, t, &r);
      break;
  }
  return r;
}

double MaxGrantsIn(const LimiterSpec& s, int64_t d) {
  if (d <= 0) return 0;
  auto windows = [&](int64_t w) { return double((d + w - 1) / w); };
  switch (s.algorithm) {
    case Algorithm::kGcra:
      return double(s.burst) + double(s.rate) * double(d) / double(s.period_ns);
    case Algorithm::kSliding:
      return double(s.limit) * windows(s.window_ns);
    case Algorithm::kWindow:
      return double(s.limit) * (double(d / s.window_ns) + 1);
    case Algorithm::kLease:
      return double(s.holders) * windows(s.ttl_ns);
  }
  return 0;
}

std::string GuaranteeReport::Describe(const LimiterSpec& spec) const {
  std::string out = std::to_string(grants) + " grants, " + std::to_string(violations) +
                    " violation" + (violations == 1 ? "" : "s") + " of " + spec.Describe();
  char buf[160];
  for (const GuaranteeViolation& v : examples) {
    std::snprintf(buf, sizeof buf, "\n  %llu grants in %s (t=%lld..%lld ns), allowed %.2f",
                  static_cast<unsigned long long>(v.grants),
                  FormatDurationShort(v.end_ns - v.start_ns).c_str(),
                  static_cast<long long>(v.start_ns), static_cast<long long>(v.end_ns), v.allowed);
    out += buf;
  }
  return out;
}

}  // namespace sluice
