#include "top_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "inspect_format.h"
#include "sluice/duration.h"

namespace sluice {
namespace {

constexpr int64_t kMinute = 60 * kNanosPerSecond;

std::string Fit(std::string s, size_t w) {
  if (s.size() > w) return s.substr(0, w);
  return s + std::string(w - s.size(), ' ');
}

std::string FitRight(const std::string& s, size_t w) {
  if (s.size() >= w) return s.substr(0, w);
  return std::string(w - s.size(), ' ') + s;
}

std::string Rate(double v) {
  char buf[32];
  if (v < 1000) {
    std::snprintf(buf, sizeof buf, v < 10 && v != std::floor(v) ? "%.1f" : "%.0f", v);
  } else if (v < 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  }
  return buf;
}

}  // namespace

RateTracker::RateTracker(int64_t history_ns) : history_ns_(history_ns) {}

void RateTracker::Add(const Snapshot& snap) {
  newest_ = std::max(newest_, snap.taken_ns);
  for (const LimiterRow& r : snap.rows) {
    auto it = series_.find(r.name);
    if (it == series_.end()) it = series_.emplace(r.name, std::deque<Sample>{}).first;
    std::deque<Sample>& d = it->second;
    // A counter that went down means the limiter was recreated: restart.
    if (!d.empty() && (r.stats.granted < d.back().granted || r.stats.denied < d.back().denied))
      d.clear();
    d.push_back({snap.taken_ns, r.stats.granted, r.stats.denied});
    while (d.size() > 2 && d[1].t < snap.taken_ns - history_ns_) d.pop_front();
  }
  // Forget limiters that have not been seen for the whole history.
  for (auto it = series_.begin(); it != series_.end();) {
    if (it->second.empty() || it->second.back().t < newest_ - history_ns_) {
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
}

const RateTracker::Sample* RateTracker::At(const std::deque<Sample>& d, int64_t t) {
  auto it =
      std::upper_bound(d.begin(), d.end(), t, [](int64_t v, const Sample& s) { return v < s.t; });
  if (it == d.begin()) return nullptr;
  return &*(it - 1);
}

RateTracker::Rates RateTracker::RateOf(std::string_view name, int64_t over_ns) const {
  Rates r;
  auto it = series_.find(name);
  if (it == series_.end() || it->second.size() < 2) return r;
  const std::deque<Sample>& d = it->second;
  const Sample& last = d.back();
  const Sample* first = At(d, last.t - over_ns);
  if (first == nullptr) first = &d.front();
  if (first->t >= last.t) return r;
  const double secs = double(last.t - first->t) / 1e9;
  r.granted_per_s = double(last.granted - first->granted) / secs;
  r.denied_per_s = double(last.denied - first->denied) / secs;
  return r;
}

std::vector<double> RateTracker::History(std::string_view name, int n, int64_t bucket_ns) const {
  std::vector<double> out(static_cast<size_t>(std::max(n, 0)), -1.0);
  auto it = series_.find(name);
  if (it == series_.end() || it->second.empty() || bucket_ns <= 0) return out;
  const std::deque<Sample>& d = it->second;
  const int64_t end = d.back().t;
  for (int k = 0; k < n; ++k) {
    const int64_t b_end = end - int64_t(n - 1 - k) * bucket_ns;
    const Sample* a = At(d, b_end - bucket_ns);
    const Sample* b = At(d, b_end);
    if (a == nullptr || b == nullptr || b->t <= a->t) continue;
    out[static_cast<size_t>(k)] = double(b->granted - a->granted) * 1e9 / double(b->t - a->t);
  }
  return out;
}

std::string Sparkline(const std::vector<double>& values, double max, bool ascii) {
  static const char* const kBlocks[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                        "\u2585", "\u2586", "\u2587", "\u2588"};
  static const char kAscii[] = "_.:-=+*#";
  std::string out;
  for (double v : values) {
    if (v < 0) {
      out += ' ';
      continue;
    }
    int level = max > 0 ? static_cast<int>(std::lround(v / max * 7)) : 0;
    level = std::clamp(level, 0, 7);
    if (ascii) {
      out += kAscii[level];
    } else {
      out += kBlocks[level];
    }
  }
  return out;
}

std::vector<std::string> RenderTop(const Snapshot& snap, const RateTracker& rates,
                                   const TopOptions& o) {
  const size_t width = static_cast<size_t>(std::max(o.width, 40));
  const int height = std::max(o.height, 5);
  std::vector<std::string> lines;
  std::string title = "sluice top - namespace " + snap.info.ns + " - " +
                      std::to_string(snap.rows.size()) + " limiter" +
                      (snap.rows.size() == 1 ? "" : "s");
  if (!o.clock.empty()) title += " - " + o.clock;
  lines.push_back(Fit(title, width));
  lines.push_back(Fit("rates over the last 1s; refresh " + FormatDurationShort(o.refresh_ns) +
                          "; sparkline: granted/s, last 60s",
                      width));
  // NAME RATE/s UTIL DENY/s WAIT LEVEL SPARKLINE
  const size_t name_w = 16;
  const size_t fixed = name_w + 1 + 8 + 1 + 5 + 1 + 8 + 1 + 5 + 1 + 11 + 1;
  const int spark_w = static_cast<int>(std::min<size_t>(60, width > fixed ? width - fixed : 0));
  lines.push_back(Fit(Fit("NAME", name_w) + " " + FitRight("RATE/s", 8) + " " +
                          FitRight("UTIL", 5) + " " + FitRight("DENY/s", 8) + " " +
                          FitRight("WAIT", 5) + " " + Fit("LEVEL", 11) + " " + "LAST 60s",
                      width));
  const size_t room = static_cast<size_t>(height - 4);
  const bool overflow = snap.rows.size() > room;
  const size_t shown = overflow ? room - 1 : snap.rows.size();
  for (size_t i = 0; i < shown; ++i) {
    const LimiterRow& r = snap.rows[i];
    if (!r.corrupt.empty()) {
      lines.push_back(
          Fit(Fit(EscapeForDisplay(r.name), name_w) + " corrupt: " + EscapeForDisplay(r.corrupt),
              width));
      continue;
    }
    const RateTracker::Rates now = rates.RateOf(r.name);
    const double steady = SteadyRatePerSecond(r.spec);
    const double util = r.spec.algorithm == Algorithm::kLease
                            ? (r.level.capacity > 0 ? r.level.used / r.level.capacity : 0)
                            : (steady > 0 ? now.granted_per_s / steady : 0);
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f%%", util * 100);
    char level[32];
    std::snprintf(level, sizeof level, "%.0f/%.0f", std::round(r.level.used), r.level.capacity);
    std::string row = Fit(EscapeForDisplay(r.name), name_w) + " " +
                      FitRight(Rate(now.granted_per_s), 8) + " " + FitRight(pct, 5) + " " +
                      FitRight(Rate(now.denied_per_s), 8) + " " +
                      FitRight(std::to_string(r.stats.waiting), 5) + " " + Fit(level, 11) + " ";
    row = Fit(row, std::min(width, fixed));
    if (spark_w > 0) {
      const std::vector<double> h = rates.History(r.name, spark_w, kMinute / spark_w);
      double max = steady;
      for (double v : h) max = std::max(max, v);
      row += Sparkline(h, max, o.ascii);
    }
    lines.push_back(row);
  }
  if (overflow)
    lines.push_back(Fit("... " + std::to_string(snap.rows.size() - shown) + " more", width));
  if (snap.rows.empty()) lines.push_back(Fit("(no limiters)", width));
  // Global limiters: their share, as room allows.
  for (size_t i = 0; i < shown && static_cast<int>(lines.size()) < height - 1; ++i) {
    const LimiterRow& r = snap.rows[i];
    if (!r.global || !r.corrupt.empty()) continue;
    const ShareRow& sh = r.share;
    std::string t = "share " + EscapeForDisplay(r.name) + ": " + std::to_string(sh.amount) + " (" +
                    admin::ShareStageName(sh.stage);
    if (sh.ends_ns != INT64_MAX && sh.ends_ns > snap.taken_ns) {
      t += ", ends in " + FormatDurationShort(sh.ends_ns - snap.taken_ns);
    }
    t += ", epoch " + std::to_string(sh.epoch) + ")";
    lines.push_back(Fit(t, width));
  }
  while (static_cast<int>(lines.size()) < height - 1) lines.push_back(std::string(width, ' '));
  lines.push_back(Fit("q: quit", width));
  return lines;
}

}  // namespace sluice
