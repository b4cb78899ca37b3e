// `sluicectl top`: rates derived from successive snapshots, and the screen
// they render to (plain text lines; the tool adds the terminal escapes).
#ifndef SLUICECTL_TOP_VIEW_H_
#define SLUICECTL_TOP_VIEW_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/admin/inspect.h"

namespace sluice {

// Keeps each limiter's counters over the last `history_ns` and derives
// rates from them. Not thread-safe.
class RateTracker {
 public:
  explicit RateTracker(int64_t history_ns = 61'000'000'000);

  // Records the snapshot's counters (taken_ns must not go backwards).
  void Add(const Snapshot& snap);

  struct Rates {
    double granted_per_s = 0;
    double denied_per_s = 0;
  };
  // Rates over the last `over_ns` before the newest sample (0 with < 2 samples).
  Rates RateOf(std::string_view name, int64_t over_ns = 1'000'000'000) const;
  // Granted per second in `n` consecutive buckets of `bucket_ns` ending at
  // the newest sample, oldest first; -1 where there is no data yet.
  std::vector<double> History(std::string_view name, int n, int64_t bucket_ns) const;

 private:
  struct Sample {
    int64_t t;
    uint64_t granted;
    uint64_t denied;
  };
  // Counter values at time t: the last sample at or before t (nullptr if none).
  static const Sample* At(const std::deque<Sample>& d, int64_t t);
  int64_t history_ns_;
  int64_t newest_ = 0;
  std::map<std::string, std::deque<Sample>, std::less<>> series_;
};

// Block characters for `values` scaled to `max` (values < 0: blank). UTF-8
// "▁▂▃▄▅▆▇█", or with ascii " .:-=+*#" (one byte per column).
std::string Sparkline(const std::vector<double>& values, double max, bool ascii);

struct TopOptions {
  int width = 80;
  int height = 24;
  bool ascii = false;  // ASCII sparkline (no UTF-8 terminal)
  std::string clock;   // shown in the title, e.g. "14:03:05"
  int64_t refresh_ns = 250'000'000;
};

// The screen: exactly `height` lines, each at most `width` columns.
std::vector<std::string> RenderTop(const Snapshot& snap, const RateTracker& rates,
                                   const TopOptions& options);

}  // namespace sluice

#endif  // SLUICECTL_TOP_VIEW_H_
