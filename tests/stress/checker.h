// Offline guarantee checker: given the grants that concurrent workers
// logged (decision time, permits, lease end, fencing token), proves each
// algorithm's guarantee (docs/design.md) and measures utilisation.
//
// Every check is an "at most" property, so it holds for any subset of a
// valid set of grants: a log that misses grants (a worker killed between
// its grant and its log append) can only hide violations, never invent one.
// Header-only; not thread-safe (call it after the workers are done).
#ifndef SLUICE_TESTS_STRESS_CHECKER_H_
#define SLUICE_TESTS_STRESS_CHECKER_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace sluice::stress {

// One logged grant.
struct Grant {
  int64_t t = 0;         // decision time: Decision::now_ns or Lease::granted_ns
  uint64_t permits = 1;  // permits of this grant
  int64_t end = 0;       // leases: no longer held from here (half-open)
  uint64_t token = 0;    // leases: fencing token
  int32_t worker = 0;    // which worker logged it (diagnostics)
  int64_t seen = 0;      // leases: clock read by the worker after the grant
};

struct CheckResult {
  uint64_t grants = 0;
  uint64_t permits = 0;
  uint64_t violations = 0;
  std::string first_violation;  // human-readable, "" if none
  // Utilisation: `used` permits out of `allowed` by the bound over the
  // measured interval; utilisation = used / allowed, -1 when undefined.
  double used = 0;
  double allowed = 0;
  double utilisation = -1;
  int64_t span_ns = 0;  // last grant time - first grant time

  void Violation(const std::string& what) {
    if (violations++ == 0) first_violation = what;
  }
};

namespace internal {

inline std::vector<Grant> SortedByTime(std::vector<Grant> g) {
  std::stable_sort(g.begin(), g.end(), [](const Grant& a, const Grant& b) { return a.t < b.t; });
  return g;
}

inline void Totals(const std::vector<Grant>& g, CheckResult* r) {
  r->grants = g.size();
  for (const Grant& x : g) r->permits += x.permits;
  if (!g.empty()) r->span_ns = g.back().t - g.front().t;
}

}  // namespace internal

// gcra: for every interval [a, b], permits granted at times in [a, b]
//   <= burst + rate * (b - a) / period.
// With grants sorted by time and P the prefix sums of permits, the worst
// interval ending at grant j starts at some grant i <= j, so it suffices to
// track min over i of (P[i-1] * period - rate * t_i); O(n), exact integers.
// Utilisation: permits / (burst + rate * span / period), the bound over the
// whole run [first grant, last grant]; the check itself makes it <= 1.
inline CheckResult CheckGcra(const std::vector<Grant>& grants, uint64_t rate, int64_t period_ns,
                             uint64_t burst) {
  using I128 = __int128;
  const std::vector<Grant> g = internal::SortedByTime(grants);
  CheckResult r;
  internal::Totals(g, &r);
  I128 prefix = 0;     // P[j]
  I128 min_start = 0;  // min over i <= j of P[i-1]*period - rate*t_i
  bool have = false;
  const I128 cap = I128(burst) * period_ns;
  for (size_t j = 0; j < g.size(); ++j) {
    const I128 start_j = prefix * period_ns - I128(rate) * g[j].t;
    if (!have || start_j < min_start) min_start = start_j;
    have = true;
    prefix += g[j].permits;
    const I128 excess = (prefix * period_ns - I128(rate) * g[j].t) - min_start - cap;
    if (excess > 0) {
      std::ostringstream os;
      os << "gcra: interval ending at t=" << g[j].t << " (grant #" << j
         << ") holds more than burst + rate*(b-a)/period permits (excess "
         << double(excess) / double(period_ns) << ")";
      r.Violation(os.str());
    }
  }
  if (!g.empty()) {
    r.used = double(r.permits);
    r.allowed = double(burst) + double(rate) * double(r.span_ns) / double(period_ns);
    r.utilisation = r.used / r.allowed;
  }
  return r;
}

// window: permits per aligned window [k*w, (k+1)*w) <= limit.
// Utilisation (reported only): over the full windows strictly between the
// first and the last one.
inline CheckResult CheckWindow(const std::vector<Grant>& grants, uint64_t limit,
                               int64_t window_ns) {
  const std::vector<Grant> g = internal::SortedByTime(grants);
  CheckResult r;
  internal::Totals(g, &r);
  std::map<int64_t, uint64_t> per;  // window index -> permits
  for (const Grant& x : g) {
    // Floor division (times may be negative with injected clocks).
    int64_t k = x.t / window_ns;
    if (x.t % window_ns < 0) --k;
    per[k] += x.permits;
  }
  for (const auto& [k, n] : per) {
    if (n > limit) {
      std::ostringstream os;
      os << "window: window [" << k * window_ns << ", " << (k + 1) * window_ns << ") granted " << n
         << " > limit " << limit;
      r.Violation(os.str());
    }
  }
  if (per.size() >= 3) {
    const int64_t first = per.begin()->first, last = per.rbegin()->first;
    for (int64_t k = first + 1; k < last; ++k) {
      auto it = per.find(k);
      r.used += it == per.end() ? 0 : double(it->second);
    }
    r.allowed = double(last - first - 1) * double(limit);
    r.utilisation = r.used / r.allowed;
  }
  return r;
}

// sliding: permits in ANY half-open interval of length w <= limit. The
// worst interval (t_j - w, t_j] ends at a grant time, so one two-pointer
// pass over the sorted grants checks every such interval.
// Utilisation: K = floor(span / w) disjoint windows [t0 + k*w, t0+(k+1)*w)
// cover [t0, t0 + K*w); each may hold at most `limit`, so the bound allows
// exactly K*limit there, and a perfect limiter reaches it (limit grants at
// each t0 + k*w). used = permits granted in [t0, t0 + K*w), where demand was
// saturating throughout (workers run past t0 + K*w). Sound and tight.
inline CheckResult CheckSliding(const std::vector<Grant>& grants, uint64_t limit,
                                int64_t window_ns) {
  const std::vector<Grant> g = internal::SortedByTime(grants);
  CheckResult r;
  internal::Totals(g, &r);
  uint64_t sum = 0;
  size_t lo = 0;
  for (size_t j = 0; j < g.size(); ++j) {
    sum += g[j].permits;
    while (g[lo].t <= g[j].t - window_ns) sum -= g[lo++].permits;
    if (sum > limit) {
      std::ostringstream os;
      os << "sliding: interval (" << g[j].t - window_ns << ", " << g[j].t << "] holds " << sum
         << " > limit " << limit << " permits";
      r.Violation(os.str());
    }
  }
  if (!g.empty() && r.span_ns >= window_ns) {
    const int64_t k = r.span_ns / window_ns;
    const int64_t stop = g.front().t + k * window_ns;
    for (const Grant& x : g) {
      if (x.t < stop) r.used += double(x.permits);
    }
    r.allowed = double(k) * double(limit);
    r.utilisation = r.used / r.allowed;
  }
  return r;
}

// lease: at most `holders` held at once, a grant being held over the
// half-open [t, end) (end = min(release, expiry)). Sweep of +/- events;
// at equal times ends come first (half-open intervals).
inline CheckResult CheckHolders(const std::vector<Grant>& grants, uint64_t holders) {
  CheckResult r;
  internal::Totals(internal::SortedByTime(grants), &r);
  std::vector<std::pair<int64_t, int64_t>> ev;  // (time, +permits / -permits)
  ev.reserve(grants.size() * 2);
  for (const Grant& x : grants) {
    if (x.end < x.t) {
      r.Violation("lease: grant at " + std::to_string(x.t) + " ends before it starts");
      continue;
    }
    ev.emplace_back(x.t, int64_t(x.permits));
    ev.emplace_back(x.end, -int64_t(x.permits));
  }
  std::sort(ev.begin(), ev.end());  // at equal time, negative deltas sort first
  int64_t held = 0, peak = 0;
  for (const auto& [t, d] : ev) {
    held += d;
    peak = std::max(peak, held);
    if (d > 0 && held > int64_t(holders)) {
      std::ostringstream os;
      os << "lease: " << held << " > holders " << holders << " held at t=" << t;
      r.Violation(os.str());
    }
  }
  r.used = double(peak);
  r.allowed = double(holders);
  return r;
}

// Lease utilisation: the time-average over [from, to) of the permits held
// (each grant over [t, end), capped at `holders`), divided by `holders`.
// 1 means every holder entry was in use all the time.
inline double HeldFraction(const std::vector<Grant>& grants, uint64_t holders, int64_t from,
                           int64_t to) {
  if (to <= from || holders == 0) return -1;
  std::vector<std::pair<int64_t, int64_t>> ev;
  for (const Grant& x : grants) {
    const int64_t a = std::max(x.t, from), b = std::min(x.end, to);
    if (a >= b) continue;
    ev.emplace_back(a, int64_t(x.permits));
    ev.emplace_back(b, -int64_t(x.permits));
  }
  std::sort(ev.begin(), ev.end());
  __int128 area = 0;
  int64_t held = 0, prev = from;
  for (const auto& [t, d] : ev) {
    area += __int128(std::min<int64_t>(held, int64_t(holders))) * (t - prev);
    prev = t;
    held += d;
  }
  return double(area) / (double(holders) * double(to - from));
}

// Fencing, happens-before form (any holders): if lease A ended before lease
// B's grant time (A.end < B.t) then A.token < B.token. Sound with logged
// times: A's token was taken before A returned, hence before A's logged end;
// B's token is taken after B's grant time was read. Also: tokens unique.
inline CheckResult CheckFencing(const std::vector<Grant>& grants) {
  CheckResult r;
  std::vector<Grant> by_t = internal::SortedByTime(grants);
  internal::Totals(by_t, &r);
  std::vector<Grant> by_end = grants;
  std::sort(by_end.begin(), by_end.end(),
            [](const Grant& a, const Grant& b) { return a.end < b.end; });
  std::vector<uint64_t> tokens;
  for (const Grant& x : grants) tokens.push_back(x.token);
  std::sort(tokens.begin(), tokens.end());
  for (size_t i = 1; i < tokens.size(); ++i) {
    if (tokens[i] == tokens[i - 1])
      r.Violation("fencing: token " + std::to_string(tokens[i]) + " issued twice");
  }
  size_t a = 0;
  uint64_t max_ended = 0;
  int64_t max_at = 0;
  for (const Grant& b : by_t) {
    while (a < by_end.size() && by_end[a].end < b.t) {
      if (by_end[a].token > max_ended) {
        max_ended = by_end[a].token;
        max_at = by_end[a].end;
      }
      ++a;
    }
    if (max_ended != 0 && b.token <= max_ended) {
      std::ostringstream os;
      os << "fencing: lease granted at " << b.t << " has token " << b.token << " <= token "
         << max_ended << " of a lease that ended at " << max_at;
      r.Violation(os.str());
    }
  }
  return r;
}

// Fencing, grant-order form (meaningful for holders = 1, where grants never
// overlap): sorted by grant time, tokens strictly increase.
inline CheckResult CheckTokenOrder(const std::vector<Grant>& grants) {
  const std::vector<Grant> g = internal::SortedByTime(grants);
  CheckResult r;
  internal::Totals(g, &r);
  for (size_t j = 1; j < g.size(); ++j) {
    if (g[j].token <= g[j - 1].token) {
      std::ostringstream os;
      os << "fencing: grant at " << g[j].t << " has token " << g[j].token << " after grant at "
         << g[j - 1].t << " with token " << g[j - 1].token;
      r.Violation(os.str());
    }
  }
  return r;
}

}  // namespace sluice::stress

#endif  // SLUICE_TESTS_STRESS_CHECKER_H_
