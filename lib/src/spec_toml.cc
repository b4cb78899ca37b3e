#include "spec_toml.h"

#include <limits>

#include "common.h"
#include "printable.h"
#include "sluice/duration.h"

namespace sluice {
namespace {

struct KeyInfo {
  const char* key;
  // Bit mask of algorithms (1 << Algorithm) the key applies to; 0: all.
  unsigned algorithms;
};
constexpr unsigned Bit(Algorithm a) { return 1u << static_cast<unsigned>(a); }
const KeyInfo kKeys[] = {
    {"algorithm", 0},
    {"global", 0},
    {"rate", Bit(Algorithm::kGcra)},
    {"period", Bit(Algorithm::kGcra)},
    {"burst", Bit(Algorithm::kGcra)},
    {"limit", Bit(Algorithm::kWindow) | Bit(Algorithm::kSliding)},
    {"window", Bit(Algorithm::kWindow) | Bit(Algorithm::kSliding)},
    {"holders", Bit(Algorithm::kLease)},
    {"ttl", Bit(Algorithm::kLease)},
    {"reclaim", Bit(Algorithm::kLease)},
};

class Reader {
 public:
  Reader(const toml::table& t, std::string_view source) : t_(t), source_(source) {}

  Status Fail(const toml::node& n, const std::string& msg) const {
    return Status(Code::kInvalidArgument, ErrorAt(source_, n.source(), msg));
  }
  Status FailKey(const toml::key& k, const std::string& msg) const {
    return Status(Code::kInvalidArgument, ErrorAt(source_, k.source(), msg));
  }
  Status FailTable(const std::string& msg) const {
    return Status(Code::kInvalidArgument, ErrorAt(source_, t_.source(), msg));
  }

  // Unsigned integer key; `present` false when absent.
  Status Uint(const char* key, uint64_t* out, bool* present) const {
    const toml::node* n = t_.get(key);
    *present = n != nullptr;
    if (!n) return Status::OK();
    const auto v = n->value_exact<int64_t>();
    if (!n->is_integer() || !v) {
      return Fail(*n, std::string(key) + " must be an integer");
    }
    if (*v < 0)
      return Fail(*n, std::string(key) + " must not be negative (got " + std::to_string(*v) + ")");
    *out = static_cast<uint64_t>(*v);
    return Status::OK();
  }

  Status Duration(const char* key, int64_t* out, bool* present) const {
    const toml::node* n = t_.get(key);
    *present = n != nullptr;
    if (!n) return Status::OK();
    if (!n->is_string()) {
      return Fail(*n, std::string(key) + " must be a duration string with a unit, e.g. " + key +
                          " = \"800ms\"");
    }
    StatusOr<int64_t> d = ParseDuration(n->value_or<std::string_view>(""));
    if (!d.ok()) return Fail(*n, std::string(key) + ": " + d.status().message());
    *out = *d;
    return Status::OK();
  }

  Status Bool(const char* key, bool* out) const {
    const toml::node* n = t_.get(key);
    if (!n) return Status::OK();
    if (!n->is_boolean()) return Fail(*n, std::string(key) + " must be true or false");
    *out = n->value_or(false);
    return Status::OK();
  }

 private:
  const toml::table& t_;
  std::string_view source_;
};

// Points a validation error (which names the key first) at that key.
Status Locate(const toml::table& t, std::string_view source, const Status& s) {
  if (s.ok()) return s;
  for (const KeyInfo& k : kKeys) {
    const std::string prefix = std::string(k.key) + " ";
    if (s.message().rfind(prefix, 0) == 0 && t.get(k.key)) {
      return Status(s.code(), ErrorAt(source, t.get(k.key)->source(), s.message()));
    }
  }
  return Status(s.code(), ErrorAt(source, t.source(), s.message()));
}

}  // namespace

std::string ErrorAt(std::string_view source, const toml::source_region& where,
                    const std::string& message) {
  const auto line = where.begin.line ? where.begin.line : 1;
  const auto col = where.begin.column ? where.begin.column : 1;
  return PositionedError(source, line, col, message);
}

StatusOr<toml::table> ParseToml(std::string_view text, std::string_view source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Status(Code::kInvalidArgument,
                  ErrorAt(source, e.source(), std::string(e.description())));
  }
}

StatusOr<LimiterSpec> SpecFromTable(const toml::table& t, std::string_view source) {
  Reader r(t, source);
  const toml::node* alg_node = t.get("algorithm");
  if (!alg_node) {
    return r.FailTable("missing key 'algorithm' (one of gcra, window, sliding, lease)");
  }
  std::optional<Algorithm> alg;
  if (alg_node->is_string()) alg = ParseAlgorithm(alg_node->value_or<std::string_view>(""));
  if (!alg) {
    return r.Fail(*alg_node,
                  "algorithm must be one of \"gcra\", \"window\", \"sliding\", \"lease\"");
  }
  // Unknown keys and keys of another algorithm are errors, never ignored.
  for (const auto& [key, node] : t) {
    const KeyInfo* info = nullptr;
    for (const KeyInfo& k : kKeys) {
      if (key.str() == k.key) info = &k;
    }
    if (!info) return r.FailKey(key, "unknown key '" + Printable(key.str()) + "'");
    if (info->algorithms && !(info->algorithms & Bit(*alg))) {
      return r.FailKey(key, "key '" + Printable(key.str()) + "' does not apply to algorithm \"" +
                                AlgorithmName(*alg) + "\"");
    }
  }
  LimiterSpec s;
  s.algorithm = *alg;
  Status st;
  bool have = false;
  if (!(st = r.Bool("global", &s.global)).ok()) return st;
  auto require = [&](bool present, const char* key) -> Status {
    if (present) return Status::OK();
    return r.FailTable("missing key '" + std::string(key) + "' for algorithm \"" +
                       AlgorithmName(*alg) + "\"");
  };
  switch (*alg) {
    case Algorithm::kGcra:
      // global: rate and burst are caps (0: none), the share gives both.
      if (!(st = r.Uint("rate", &s.rate, &have)).ok()) return st;
      if (!s.global && !(st = require(have, "rate")).ok()) return st;
      s.period_ns = kNanosPerSecond;  // default period: 1s
      if (!(st = r.Duration("period", &s.period_ns, &have)).ok()) return st;
      s.burst = s.global ? 0 : 1;
      if (!(st = r.Uint("burst", &s.burst, &have)).ok()) return st;
      break;
    case Algorithm::kWindow:
    case Algorithm::kSliding:
      if (!(st = r.Uint("limit", &s.limit, &have)).ok()) return st;
      if (!s.global && !(st = require(have, "limit")).ok()) return st;
      if (!(st = r.Duration("window", &s.window_ns, &have)).ok() ||
          !(st = require(have, "window")).ok())
        return st;
      break;
    case Algorithm::kLease:
      if (!(st = r.Uint("holders", &s.holders, &have)).ok()) return st;
      if (!s.global && !(st = require(have, "holders")).ok()) return st;
      if (!(st = r.Duration("ttl", &s.ttl_ns, &have)).ok() || !(st = require(have, "ttl")).ok())
        return st;
      if (!(st = r.Bool("reclaim", &s.reclaim)).ok()) return st;
      break;
  }
  if (Status v = s.Validate(); !v.ok()) return Locate(t, source, v);
  return s;
}

StatusOr<LimiterSpec> ParseSpec(std::string_view text, std::string_view source) {
  StatusOr<toml::table> t = ParseToml(text, source);
  if (!t.ok()) return t.status();
  return SpecFromTable(*t, source);
}

}  // namespace sluice
