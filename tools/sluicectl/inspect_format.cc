#include "inspect_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common.h"
#include "printable.h"
#include "sluice/duration.h"

namespace sluice {
namespace {

std::string Num(double v) {
  if (!std::isfinite(v)) return "0";
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.6g", v);
  }
  return buf;
}

std::string U(uint64_t v) { return std::to_string(v); }
std::string I(int64_t v) { return std::to_string(v); }

// "1.2k", "3.4M" for wide counters in tables.
std::string Short(double v) {
  char buf[32];
  if (v < 10000) {
    std::snprintf(buf, sizeof buf, v == std::floor(v) ? "%.0f" : "%.1f", v);
  } else if (v < 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else if (v < 1e9) {
    std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fG", v / 1e9);
  }
  return buf;
}

std::string Pad(const std::string& s, size_t w) {
  return s.size() >= w ? s : s + std::string(w - s.size(), ' ');
}

std::string Level(const LimiterRow& r) {
  return Num(std::round(r.level.used * 10) / 10) + "/" + Num(r.level.capacity);
}

std::string ParamsJson(const LimiterSpec& s) {
  switch (s.algorithm) {
    case Algorithm::kGcra:
      return "{\"rate\":" + U(s.rate) + ",\"period_ns\":" + I(s.period_ns) +
             ",\"burst\":" + U(s.burst) + "}";
    case Algorithm::kWindow:
    case Algorithm::kSliding:
      return "{\"limit\":" + U(s.limit) + ",\"window_ns\":" + I(s.window_ns) + "}";
    case Algorithm::kLease:
      return "{\"holders\":" + U(s.holders) + ",\"ttl_ns\":" + I(s.ttl_ns) +
             ",\"reclaim\":" + (s.reclaim ? "true" : "false") + "}";
  }
  return "{}";
}

}  // namespace

std::string FormatTable(const Snapshot& snap) {
  size_t w = 4;
  for (const LimiterRow& r : snap.rows) w = std::max(w, EscapeForDisplay(r.name).size());
  std::string out = Pad("NAME", w) + "  " + Pad("ALGO", 7) + " " + Pad("PARAMS", 28) + " " +
                    Pad("LEVEL", 11) + " " + Pad("GRANTED", 8) + " " + Pad("DENIED", 8) + " " +
                    Pad("WAIT", 4) + " DEMAND/s\n";
  for (const LimiterRow& r : snap.rows) {
    if (!r.corrupt.empty()) {
      out += Pad(EscapeForDisplay(r.name), w) + "  corrupt: " + EscapeForDisplay(r.corrupt) + "\n";
      continue;
    }
    std::string params = r.spec.Describe();
    params = params.substr(params.find(' ') + 1);
    out += Pad(EscapeForDisplay(r.name), w) + "  " + Pad(AlgorithmName(r.spec.algorithm), 7) + " " +
           Pad(params, 28) + " " + Pad(Level(r), 11) + " " +
           Pad(Short(double(r.stats.granted)), 8) + " " + Pad(Short(double(r.stats.denied)), 8) +
           " " + Pad(I(r.stats.waiting), 4) + " " + Short(r.stats.demand) + "\n";
  }
  if (snap.rows.empty()) out += "(no limiters in namespace '" + snap.info.ns + "')\n";
  return out;
}

std::string FormatShow(const LimiterRow& r, int64_t now) {
  std::string out;
  auto line = [&](const char* k, const std::string& v) {
    out += Pad(std::string(k) + ":", 14) + v + "\n";
  };
  line("name", EscapeForDisplay(r.name));
  if (!r.corrupt.empty()) {
    line("corrupt", EscapeForDisplay(r.corrupt));
    return out;
  }
  line("algorithm", AlgorithmName(r.spec.algorithm));
  line("params", r.spec.Describe());
  line("steady rate", Num(std::round(SteadyRatePerSecond(r.spec) * 100) / 100) + "/s");
  const char* unit = r.spec.algorithm == Algorithm::kGcra      ? "tokens used"
                     : r.spec.algorithm == Algorithm::kLease   ? "holders"
                     : r.spec.algorithm == Algorithm::kSliding ? "grants in the last window"
                                                               : "grants in this window";
  line("level", Level(r) + " " + unit +
                    (r.level.next_free_ns > 0
                         ? " (next free in " + FormatDurationShort(r.level.next_free_ns) + ")"
                         : ""));
  line("granted", U(r.stats.granted));
  line("denied", U(r.stats.denied));
  line("asked", U(r.stats.asked));
  line("waiting", I(r.stats.waiting));
  line("waits", U(r.stats.waits) + " (total " +
                    FormatDurationShort(static_cast<int64_t>(r.stats.wait_ns)) + ")");
  line("demand", Num(std::round(r.stats.demand * 10) / 10) + "/s");
  if (r.global) {
    const ShareRow& sh = r.share;
    std::string a = U(sh.amount);
    if (r.spec.algorithm == Algorithm::kGcra && sh.amount > 0) a += " burst " + U(sh.burst);
    a += std::string(" (") + admin::ShareStageName(sh.stage);
    switch (sh.stage) {
      case admin::ShareStage::kNone:
        a += ": no share yet, denying";
        break;
      case admin::ShareStage::kShare:
      case admin::ShareStage::kFallback:
        a += sh.ends_ns == INT64_MAX ? ", until replaced"
                                     : ", ends in " + FormatDurationShort(sh.ends_ns - now);
        break;
      case admin::ShareStage::kLapsed:
        a += ": share and fallback ended, denying";
        break;
    }
    a += ", epoch " + U(sh.epoch) + ")";
    line("share", a);
    line("cap", sh.cap == 0 ? "none" : U(sh.cap));
  }
  return out;
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t Utf8SequenceAt(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
  }
  return n;
}

}  // namespace

std::string EscapeForDisplay(std::string_view s) { return Printable(s); }

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const size_t n = Utf8SequenceAt(s, i);
      if (n == 0) {
        out += "\\ufffd";  // not UTF-8: the replacement character
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string RowToJson(const LimiterRow& r, int64_t now) {
  if (!r.corrupt.empty()) {
    return "{\"name\":" + JsonQuote(r.name) + ",\"corrupt\":" + JsonQuote(r.corrupt) + "}";
  }
  std::string share = "null";
  if (r.global) {
    const ShareRow& sh = r.share;
    share = std::string("{\"stage\":\"") + admin::ShareStageName(sh.stage) +
            "\",\"amount\":" + U(sh.amount) + ",\"burst\":" + U(sh.burst) +
            ",\"cap\":" + U(sh.cap) + ",\"ends_in_ns\":" +
            (sh.ends_ns == INT64_MAX ? "null" : I(std::max<int64_t>(0, sh.ends_ns - now))) +
            ",\"epoch\":" + U(sh.epoch) +
            ",\"drained_in_ns\":" + I(std::max<int64_t>(0, sh.drained_ns - now)) + "}";
  }
  return "{\"name\":" + JsonQuote(r.name) + ",\"corrupt\":null,\"algorithm\":\"" +
         AlgorithmName(r.spec.algorithm) + "\",\"global\":" + (r.spec.global ? "true" : "false") +
         ",\"spec\":" + JsonQuote(r.spec.Describe()) + ",\"params\":" + ParamsJson(r.spec) +
         ",\"steady_rate_per_s\":" + Num(SteadyRatePerSecond(r.spec)) +
         ",\"level\":{\"used\":" + Num(r.level.used) + ",\"capacity\":" + Num(r.level.capacity) +
         ",\"next_free_ns\":" + I(r.level.next_free_ns) + "},\"granted\":" + U(r.stats.granted) +
         ",\"denied\":" + U(r.stats.denied) + ",\"asked\":" + U(r.stats.asked) +
         ",\"waiting\":" + I(r.stats.waiting) + ",\"waits\":" + U(r.stats.waits) +
         ",\"wait_ns\":" + U(r.stats.wait_ns) + ",\"demand_per_s\":" + Num(r.stats.demand) +
         ",\"share\":" + share + "}";
}

std::string SnapshotToJson(const Snapshot& s) {
  std::string out =
      "{\"namespace\":" + JsonQuote(s.info.ns) + ",\"path\":" + JsonQuote(s.info.path) +
      ",\"layout_version\":" + U(s.info.layout_version) + ",\"mode\":\"" + FormatMode(s.info.mode) +
      "\",\"capacity\":" + U(s.info.capacity) + ",\"used_slots\":" + U(s.info.used_slots) +
      ",\"arena_bytes\":" + U(s.info.arena_bytes) + ",\"arena_used\":" + U(s.info.arena_used) +
      ",\"limiters\":[";
  for (size_t i = 0; i < s.rows.size(); ++i) {
    if (i) out += ",";
    out += RowToJson(s.rows[i], s.taken_ns);
  }
  return out + "]}";
}

}  // namespace sluice
