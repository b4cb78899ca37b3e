#include "sluice/duration.h"

#include <cstdint>
#include <cstdio>

#include "printable.h"

namespace sluice {
namespace {

struct Unit {
  const char* name;
  int64_t ns;
};
// Largest first, so FormatDuration picks the largest exact unit.
constexpr Unit kUnits[] = {{"h", 3600 * kNanosPerSecond}, {"m", 60 * kNanosPerSecond},
                           {"s", kNanosPerSecond},        {"ms", kNanosPerMilli},
                           {"us", kNanosPerMicro},        {"ns", 1}};

}  // namespace

StatusOr<int64_t> ParseDuration(std::string_view text) {
  const std::string quoted = "'" + Printable(text) + "'";
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    // Checked before the multiplication, so it can never wrap: value stays
    // <= INT64_MAX, and value * 10 + digit is tested against it exactly.
    if (value > (uint64_t{INT64_MAX} - digit) / 10) {
      return Status(Code::kInvalidArgument, "duration " + quoted + " is too large");
    }
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) {
    return Status(Code::kInvalidArgument,
                  "bad duration " + quoted +
                      ": expected an integer and a unit (ns, us, ms, s, m, h), e.g. \"800ms\"");
  }
  const std::string_view unit = text.substr(i);
  for (const Unit& u : kUnits) {
    if (unit == u.name) {
      if (value > static_cast<uint64_t>(INT64_MAX / u.ns)) {
        return Status(Code::kInvalidArgument, "duration " + quoted + " is too large");
      }
      return static_cast<int64_t>(value) * u.ns;
    }
  }
  if (unit.empty()) {
    return Status(Code::kInvalidArgument, "duration " + quoted + " has no unit: write e.g. \"" +
                                              Printable(text) +
                                              "ms\" (units: ns, us, ms, s, m, h)");
  }
  return Status(Code::kInvalidArgument, "duration " + quoted + " has unknown unit '" +
                                            Printable(unit) + "' (units: ns, us, ms, s, m, h)");
}

std::string FormatDuration(int64_t ns) {
  if (ns == 0) return "0s";
  const bool neg = ns < 0;
  const uint64_t mag = neg ? uint64_t(0) - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  for (const Unit& u : kUnits) {
    if (mag % static_cast<uint64_t>(u.ns) == 0) {
      return (neg ? "-" : "") + std::to_string(mag / static_cast<uint64_t>(u.ns)) + u.name;
    }
  }
  return std::to_string(ns) + "ns";
}

std::string FormatDurationShort(int64_t ns) {
  char buf[32];
  const double v = static_cast<double>(ns);
  if (ns == INT64_MIN) return "-" + FormatDurationShort(INT64_MAX);  // -INT64_MIN overflows
  if (ns < 0) return "-" + FormatDurationShort(-ns);
  if (ns < kNanosPerMicro) {
    std::snprintf(buf, sizeof buf, "%lldns", static_cast<long long>(ns));
  } else if (ns < kNanosPerMilli) {
    std::snprintf(buf, sizeof buf, "%.3gus", v / kNanosPerMicro);
  } else if (ns < kNanosPerSecond) {
    std::snprintf(buf, sizeof buf, "%.3gms", v / kNanosPerMilli);
  } else {
    std::snprintf(buf, sizeof buf, "%.3gs", v / kNanosPerSecond);
  }
  return buf;
}

}  // namespace sluice
