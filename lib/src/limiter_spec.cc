#include "sluice/limiter_spec.h"

#include <cstring>

#include "printable.h"
#include "sluice/duration.h"

namespace sluice {

const char* AlgorithmName(Algorithm a) {
  switch (a) {
    case Algorithm::kGcra:
      return "gcra";
    case Algorithm::kWindow:
      return "window";
    case Algorithm::kSliding:
      return "sliding";
    case Algorithm::kLease:
      return "lease";
  }
  return nullptr;
}

std::optional<Algorithm> ParseAlgorithm(std::string_view name) {
  for (Algorithm a :
       {Algorithm::kGcra, Algorithm::kWindow, Algorithm::kSliding, Algorithm::kLease}) {
    if (name == AlgorithmName(a)) return a;
  }
  return std::nullopt;
}

LimiterSpec LimiterSpec::Gcra(uint64_t rate, int64_t period_ns, uint64_t burst) {
  LimiterSpec s;
  s.algorithm = Algorithm::kGcra;
  s.rate = rate;
  s.period_ns = period_ns;
  s.burst = burst;
  return s;
}

LimiterSpec LimiterSpec::Window(uint64_t limit, int64_t window_ns) {
  LimiterSpec s;
  s.algorithm = Algorithm::kWindow;
  s.limit = limit;
  s.window_ns = window_ns;
  return s;
}

LimiterSpec LimiterSpec::Sliding(uint64_t limit, int64_t window_ns) {
  LimiterSpec s = Window(limit, window_ns);
  s.algorithm = Algorithm::kSliding;
  return s;
}

LimiterSpec LimiterSpec::Lease(uint64_t holders, int64_t ttl_ns, bool reclaim) {
  LimiterSpec s;
  s.algorithm = Algorithm::kLease;
  s.holders = holders;
  s.ttl_ns = ttl_ns;
  s.reclaim = reclaim;
  return s;
}

namespace {

Status Bad(const std::string& msg) { return Status(Code::kInvalidArgument, msg); }

Status CheckDuration(const char* key, int64_t ns) {
  if (ns < kMinDurationNs || ns > kMaxDurationNs) {
    return Bad(std::string(key) + " must be between 1us and 366 days (got " +
               (ns <= 0 ? std::to_string(ns) + "ns" : FormatDuration(ns)) + ")");
  }
  return Status::OK();
}

Status CheckRange(const char* key, uint64_t v, uint64_t lo, uint64_t hi) {
  if (v < lo || v > hi) {
    return Bad(std::string(key) + " must be between " + std::to_string(lo) + " and " +
               std::to_string(hi) + " (got " + std::to_string(v) + ")");
  }
  return Status::OK();
}

}  // namespace

Status LimiterSpec::Validate() const {
  Status s;
  const uint64_t min = global ? 0 : 1;
  switch (algorithm) {
    // A global limiter's amounts come from its share: in a definition they
    // are caps (0: none), in force they are 0 until a share arrives.
    case Algorithm::kGcra: {
      if (!(s = CheckRange("rate", rate, min, kMaxRate)).ok()) return s;
      if (!(s = CheckDuration("period", period_ns)).ok()) return s;
      if (!(s = CheckRange("burst", burst, min, uint64_t{1} << 40)).ok()) return s;
      if (rate == 0) return s;
      const unsigned __int128 cost1 = (static_cast<unsigned __int128>(period_ns) + rate - 1) / rate;
      if (cost1 * burst >= (static_cast<unsigned __int128>(1) << 62)) {
        return Bad("burst * period / rate is too large (over 146 years of credit)");
      }
      return s;
    }
    case Algorithm::kWindow:
      if (!(s = CheckRange("limit", limit, min, kMaxWindowLimit)).ok()) return s;
      return CheckDuration("window", window_ns);
    case Algorithm::kSliding:
      if (!(s = CheckRange("limit", limit, min, kMaxSlidingLimit)).ok()) return s;
      return CheckDuration("window", window_ns);
    case Algorithm::kLease:
      if (!(s = CheckRange("holders", holders, min, kMaxHolders)).ok()) return s;
      return CheckDuration("ttl", ttl_ns);
  }
  return Bad("unknown algorithm");
}

std::string LimiterSpec::ToToml() const {
  std::string out = "algorithm = \"" + std::string(AlgorithmName(algorithm)) + "\"\n";
  switch (algorithm) {
    case Algorithm::kGcra:
      out += "rate = " + std::to_string(rate) + "\nperiod = \"" + FormatDuration(period_ns) +
             "\"\nburst = " + std::to_string(burst) + "\n";
      break;
    case Algorithm::kWindow:
    case Algorithm::kSliding:
      out +=
          "limit = " + std::to_string(limit) + "\nwindow = \"" + FormatDuration(window_ns) + "\"\n";
      break;
    case Algorithm::kLease:
      out += "holders = " + std::to_string(holders) + "\nttl = \"" + FormatDuration(ttl_ns) +
             "\"\nreclaim = " + (reclaim ? "true" : "false") + "\n";
      break;
  }
  if (global) out += "global = true\n";
  return out;
}

std::string LimiterSpec::Describe() const {
  std::string out = AlgorithmName(algorithm);
  switch (algorithm) {
    case Algorithm::kGcra:
      out += " rate=" + std::to_string(rate) + " period=" + FormatDuration(period_ns) +
             " burst=" + std::to_string(burst);
      break;
    case Algorithm::kWindow:
    case Algorithm::kSliding:
      out += " limit=" + std::to_string(limit) + " window=" + FormatDuration(window_ns);
      break;
    case Algorithm::kLease:
      out += " holders=" + std::to_string(holders) + " ttl=" + FormatDuration(ttl_ns) +
             (reclaim ? " reclaim" : "");
      break;
  }
  if (global) out += " global";
  return out;
}

uint64_t LimiterSpec::Capacity() const {
  switch (algorithm) {
    case Algorithm::kGcra:
      return burst;
    case Algorithm::kWindow:
    case Algorithm::kSliding:
      return limit;
    case Algorithm::kLease:
      return holders;
  }
  return 0;
}

Status LimiterSpec::CheckPermits(uint64_t permits) const {
  if (permits == 0) return Status(Code::kInvalidArgument, "permits must be >= 1");
  if (permits <= Capacity()) return Status::OK();
  return Status(Code::kInvalidArgument, std::to_string(permits) +
                                            " permits can never be granted by " + Describe() +
                                            " (capacity " + std::to_string(Capacity()) + ")");
}

Status ValidateName(std::string_view name, const char* what) {
  auto bad = [&](const std::string& why) {
    return Status(Code::kInvalidArgument,
                  std::string(what) + " name '" + Printable(name) + "' " + why);
  };
  if (name.empty()) return Status(Code::kInvalidArgument, std::string(what) + " name is empty");
  if (name.size() > static_cast<size_t>(kMaxNameLength)) {
    return Status(Code::kInvalidArgument, std::string(what) + " name is longer than " +
                                              std::to_string(kMaxNameLength) + " characters");
  }
  if (HasControlBytes(name)) return bad("must not contain NUL or other control characters");
  if (name[0] == '.' || name[0] == '-') return bad("must not start with '.' or '-'");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return bad("may only hold letters, digits, '_', '-' and '.'");
  }
  return Status::OK();
}

}  // namespace sluice
