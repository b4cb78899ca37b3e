#include "config.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "sluice/admin/budget_file.h"
#include "sluice/admin/share.h"
#include "sluice/duration.h"
#include "spec_toml.h"

namespace sluice::fleet {
namespace {

constexpr size_t kMaxConfigBytes = size_t{1} << 20;

Status Invalid(std::string_view source, const toml::source_region& where, const std::string& m) {
  return Status(Code::kInvalidArgument, ErrorAt(source, where, m));
}

// A table's entries in file order (toml::table iterates in key order), so
// the first problem reported is the first in the file.
std::vector<std::pair<std::string, toml::node*>> InFileOrder(toml::table& t) {
  std::vector<std::pair<std::string, toml::node*>> v;
  for (auto& [key, node] : t) v.emplace_back(std::string(key.str()), &node);
  auto pos = [](const toml::node* n) {
    return std::pair(n->source().begin.line, n->source().begin.column);
  };
  std::stable_sort(v.begin(), v.end(),
                   [&](const auto& a, const auto& b) { return pos(a.second) < pos(b.second); });
  return v;
}

Status Duration(std::string_view source, const toml::node& n, const char* key, int64_t* out) {
  if (!n.is_string()) {
    return Invalid(source, n.source(),
                   std::string(key) + " must be a duration string like \"1s\" or \"250ms\"");
  }
  StatusOr<int64_t> d = ParseDuration(n.value_or<std::string_view>(""));
  if (!d.ok()) return Invalid(source, n.source(), std::string(key) + ": " + d.status().message());
  if (*d < kMinDurationNs || *d > kMaxDurationNs) {
    return Invalid(source, n.source(), std::string(key) + " must be between 1us and 366 days");
  }
  *out = *d;
  return Status::OK();
}

Status ParseResource(std::string_view source, const std::string& name, toml::node& n,
                     AllotterConfig* cfg) {
  toml::table* t = n.as_table();
  if (!t) {
    return Invalid(source, n.source(),
                   "resources." + name + " must be a table ([resources." + name + "])");
  }
  ResourceConfig r;
  r.name = name;
  bool has_lease = false, has_refresh = false, has_fallback_for = false;
  // Positions, not nodes: the nodes are erased below.
  toml::source_region reserved_src = t->source();
  toml::source_region refresh_src = t->source();
  std::vector<std::string> ours;
  for (auto& [key, v] : InFileOrder(*t)) {
    const toml::node& value = *v;
    if (key == "division") {
      const std::string_view d = value.value_or<std::string_view>("");
      if (d == "static") {
        r.division = Division::kStatic;
      } else if (d == "proportional") {
        r.division = Division::kProportional;
      } else if (d == "fair") {
        r.division = Division::kFair;
      } else {
        return Invalid(source, value.source(),
                       "division must be \"static\", \"proportional\" or \"fair\"");
      }
    } else if (key == "lease") {
      if (Status s = Duration(source, value, "lease", &r.lease_ns); !s.ok()) return s;
      has_lease = true;
    } else if (key == "refresh") {
      if (Status s = Duration(source, value, "refresh", &r.refresh_ns); !s.ok()) return s;
      has_refresh = true;
      refresh_src = value.source();
    } else if (key == "fallback_for") {
      if (Status s = Duration(source, value, "fallback_for", &r.fallback_for_ns); !s.ok()) {
        return s;
      }
      has_fallback_for = true;
    } else if (key == "reserved") {
      const int64_t v2 = value.value_or<int64_t>(-1);
      if (!value.is_integer() || v2 < 0) {
        return Invalid(source, value.source(), "reserved must be an integer >= 0");
      }
      r.reserved = static_cast<uint64_t>(v2);
      reserved_src = value.source();
    } else if (key == "global") {
      return Invalid(source, value.source(),
                     "global belongs in the hosts' budget files, not in allotter.toml");
    } else {
      continue;  // the limiter's own keys: SpecFromTable checks them
    }
    ours.push_back(key);
  }
  // What is left is a limiter table: the same keys and errors as a budget file.
  for (const std::string& k : ours) t->erase(k);
  StatusOr<LimiterSpec> spec = SpecFromTable(*t, source);
  if (!spec.ok()) return spec.status();
  r.spec = *spec;
  (void)has_lease;
  (void)has_refresh;
  if (!has_fallback_for) r.fallback_for_ns = r.lease_ns;
  if (r.refresh_ns * 2 > r.lease_ns) {
    return Invalid(source, refresh_src,
                   "refresh (" + FormatDuration(r.refresh_ns) +
                       ") must be at most half of lease (" + FormatDuration(r.lease_ns) +
                       "): a host must get two tries per lease");
  }
  if (r.reserved > r.Amount()) {
    return Invalid(source, reserved_src,
                   "reserved (" + std::to_string(r.reserved) + ") is more than the limit (" +
                       std::to_string(r.Amount()) + ")");
  }
  if (r.spec.algorithm == Algorithm::kGcra && r.spec.burst < 16) {
    cfg->warnings.push_back(
        std::string(source) + ": resources." + name + ": a fleet burst of " +
        std::to_string(r.spec.burst) + " can be split among at most " +
        std::to_string(r.spec.burst) +
        " hosts at a time (each share needs a burst of >= 1); others get 0 until one frees");
  }
  cfg->resources.push_back(std::move(r));
  return Status::OK();
}

}  // namespace

const char* DivisionName(Division d) {
  switch (d) {
    case Division::kStatic:
      return "static";
    case Division::kProportional:
      return "proportional";
    case Division::kFair:
      return "fair";
  }
  return "?";
}

uint64_t ResourceConfig::Amount() const { return admin::AmountOf(spec); }

int64_t ResourceConfig::TailNs() const {
  switch (spec.algorithm) {
    case Algorithm::kGcra: {
      // The whole fleet burst earned back at the fleet rate, plus a period.
      const long double refill =
          static_cast<long double>(spec.period_ns) * spec.burst / std::max<uint64_t>(spec.rate, 1);
      return spec.period_ns + static_cast<int64_t>(std::min<long double>(refill, kMaxDurationNs));
    }
    case Algorithm::kWindow:
      return 2 * spec.window_ns;
    case Algorithm::kSliding:
      return spec.window_ns;
    case Algorithm::kLease:
      return spec.ttl_ns;
  }
  return 0;
}

uint64_t ResourceConfig::Granule() const {
  if (spec.algorithm != Algorithm::kGcra || spec.burst >= spec.rate) return 1;
  return (spec.rate + spec.burst - 1) / spec.burst;
}

uint64_t ResourceConfig::BurstFor(uint64_t amount) const {
  if (spec.algorithm != Algorithm::kGcra || amount == 0 || spec.rate == 0) return 0;
  const unsigned __int128 b = static_cast<unsigned __int128>(spec.burst) * amount / spec.rate;
  return static_cast<uint64_t>(b);
}

StatusOr<AllotterConfig> ParseAllotterConfig(std::string_view text, std::string_view source) {
  StatusOr<toml::table> root = ParseToml(text, source);
  if (!root.ok()) return root.status();
  AllotterConfig cfg;
  cfg.source = std::string(source);
  bool has_listen = false;
  for (auto& [key, v] : InFileOrder(*root)) {
    toml::node& value = *v;
    if (key == "listen") {
      if (!value.is_string() || !ValidHostPort(value.value_or<std::string_view>(""), true)) {
        return Invalid(source, value.source(), "listen must be a string \"host:port\"");
      }
      cfg.listen = value.value_or<std::string>("");
      has_listen = true;
    } else if (key == "token_file" || key == "tls_cert" || key == "tls_key" || key == "tls_ca") {
      if (!value.is_string() || value.value_or<std::string_view>("").empty()) {
        return Invalid(source, value.source(), key + " must be a non-empty path string");
      }
      std::string* field = key == "token_file" ? &cfg.token_file
                           : key == "tls_cert" ? &cfg.tls_cert
                           : key == "tls_key"  ? &cfg.tls_key
                                               : &cfg.tls_ca;
      *field = value.value_or<std::string>("");
    } else if (key == "resources") {
      toml::table* rt = value.as_table();
      if (!rt) {
        return Invalid(source, value.source(), "resources must be a table of [resources.NAME]");
      }
      for (auto& [name, rv] : InFileOrder(*rt)) {
        if (Status s = ValidateName(name, "resource"); !s.ok()) {
          return Invalid(source, rv->source(), s.message());
        }
        if (Status s = ParseResource(source, name, *rv, &cfg); !s.ok()) return s;
      }
    } else {
      return Invalid(source, value.source(),
                     "unknown key '" + key +
                         "' (expected listen, token_file, tls_cert, tls_key, tls_ca or "
                         "[resources.NAME])");
    }
  }
  if (!has_listen) {
    return Status(Code::kInvalidArgument, std::string(source) + ":1:1: missing key 'listen'");
  }
  if (cfg.resources.empty()) {
    return Status(Code::kInvalidArgument,
                  std::string(source) + ":1:1: no [resources.NAME]: nothing to divide");
  }
  return cfg;
}

StatusOr<AllotterConfig> LoadAllotterConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Code::kNotFound, path + ": cannot open");
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Status(Code::kIo, path + ": read error");
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxConfigBytes) {
    return Status(Code::kInvalidArgument, path + ": larger than 1 MiB");
  }
  return ParseAllotterConfig(text, path);
}

}  // namespace sluice::fleet
