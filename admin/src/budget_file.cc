#include "sluice/admin/budget_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>

#include "common.h"
#include "printable.h"
#include "spec_toml.h"

namespace sluice {
namespace {

// A table's entries in file order (toml::table iterates in key order).
std::vector<std::pair<const toml::key*, const toml::node*>> InFileOrder(const toml::table& t) {
  std::vector<std::pair<const toml::key*, const toml::node*>> v;
  for (const auto& [key, node] : t) v.emplace_back(&key, &node);
  auto pos = [](const toml::key* k) {
    const toml::source_position& p = k->source().begin;
    return std::pair(p.line, p.column);
  };
  std::stable_sort(v.begin(), v.end(),
                   [&](const auto& a, const auto& b) { return pos(a.first) < pos(b.first); });
  return v;
}

SourcePos PosOf(const toml::source_region& r) {
  return SourcePos{r.begin.line ? r.begin.line : 1u, r.begin.column ? r.begin.column : 1u};
}

Status Invalid(std::string_view source, const toml::source_region& where, const std::string& msg) {
  return Status(Code::kInvalidArgument, ErrorAt(source, where, msg));
}

// `mode`: a string of octal digits ("0660") or a TOML octal integer (0o660).
Status ParseMode(const toml::node& n, std::string_view source, uint32_t* out) {
  uint64_t v = 0;
  if (n.is_string()) {
    const std::string s = n.value_or<std::string>("");
    if (s.empty() || s.size() > 4) {
      return Invalid(source, n.source(), "mode must be octal permission bits like \"0660\"");
    }
    for (char c : s) {
      if (c < '0' || c > '7') {
        return Invalid(
            source, n.source(),
            "mode must be octal permission bits like \"0660\" (got \"" + Printable(s) + "\")");
      }
      v = v * 8 + static_cast<uint64_t>(c - '0');
    }
  } else if (n.is_integer()) {
    const int64_t i = n.value_or<int64_t>(-1);
    if (i < 0) return Invalid(source, n.source(), "mode must not be negative");
    v = static_cast<uint64_t>(i);
  } else {
    return Invalid(source, n.source(), "mode must be a string of octal digits like \"0660\"");
  }
  if (v > 0777)
    return Invalid(source, n.source(), "mode must be at most 0777 (no setuid/sticky bits)");
  if ((v & 0600) != 0600) {
    return Invalid(source, n.source(), "mode must give the owner read and write (0600)");
  }
  *out = static_cast<uint32_t>(v);
  return Status::OK();
}

Status ParseAllotter(const toml::node& n, std::string_view source, AllotterConfig* out) {
  const toml::table* t = n.as_table();
  if (!t) return Invalid(source, n.source(), "allotter must be a table ([allotter])");
  const toml::node* addr = t->get("address");
  for (const auto& [k, v] : InFileOrder(*t)) {
    const toml::key& key = *k;
    const toml::node& value = *v;
    if (value.is_string() && HasControlBytes(value.value_or<std::string_view>(""))) {
      return Invalid(source, value.source(),
                     std::string(key.str()) + " must not contain NUL or other control characters");
    }
    if (key.str() == "address") {
      // One allotter, or several (comma list): forwarders follow the leader.
      const std::string list = value.is_string() ? value.value_or<std::string>("") : "";
      out->addresses.clear();
      for (size_t from = 0; value.is_string() && from <= list.size();) {
        const size_t comma = std::min(list.find(',', from), list.size());
        out->addresses.push_back(list.substr(from, comma - from));
        from = comma + 1;
      }
      if (out->addresses.empty() ||
          !std::all_of(out->addresses.begin(), out->addresses.end(),
                       [](const std::string& a) { return ValidHostPort(a); })) {
        return Invalid(source, value.source(),
                       "address must be a string \"host:port\" (port 1..65535), or a comma "
                       "list of them");
      }
      out->address = list;
    } else if (key.str() == "token_file" || key.str() == "tls_cert" || key.str() == "tls_key" ||
               key.str() == "tls_ca") {
      if (!value.is_string() || value.value_or<std::string_view>("").empty()) {
        return Invalid(source, value.source(),
                       std::string(key.str()) + " must be a non-empty path string");
      }
      std::string* field = key.str() == "token_file" ? &out->token_file
                           : key.str() == "tls_cert" ? &out->tls_cert
                           : key.str() == "tls_key"  ? &out->tls_key
                                                     : &out->tls_ca;
      *field = value.value_or<std::string>("");
    } else {
      return Invalid(source, key.source(),
                     "unknown key '" + Printable(key.str()) +
                         "' in [allotter] (expected address, token_file, tls_cert, tls_key, "
                         "tls_ca)");
    }
  }
  if (!addr) return Invalid(source, t->source(), "missing key 'address' in [allotter]");
  return Status::OK();
}

Status ParseLimiters(const toml::node& n, std::string_view source, Budget* b) {
  const toml::table* t = n.as_table();
  if (!t) return Invalid(source, n.source(), "limiters must be a table of [limiters.NAME] tables");
  b->limiters_pos = PosOf(t->source());
  for (const auto& [k, v] : InFileOrder(*t)) {
    const toml::key& key = *k;
    const toml::node& value = *v;
    const std::string name(key.str());
    if (Status s = ValidateName(name, "limiter"); !s.ok()) {
      return Invalid(source, key.source(), s.message());
    }
    const toml::table* lt = value.as_table();
    if (!lt) {
      return Invalid(source, value.source(),
                     "limiters." + Printable(name) + " must be a table ([limiters." +
                         Printable(name) + "] with algorithm = ...)");
    }
    StatusOr<LimiterSpec> spec = SpecFromTable(*lt, source);
    if (!spec.ok()) return spec.status();
    BudgetLimiter l;
    l.name = name;
    l.spec = *spec;
    l.pos = PosOf(lt->source());
    l.algorithm_pos = PosOf(lt->get("algorithm")->source());
    b->limiters.push_back(std::move(l));
  }
  return Status::OK();
}

}  // namespace

std::string Budget::ErrorAt(SourcePos pos, const std::string& message) const {
  return PositionedError(source, pos.line, pos.column, message);
}

StatusOr<Budget> ParseBudget(std::string_view text, std::string_view source) {
  StatusOr<toml::table> root = ParseToml(text, source);
  if (!root.ok()) return root.status();
  Budget b;
  b.source = std::string(source);
  for (const auto& [kp, v] : InFileOrder(*root)) {
    const toml::key& key = *kp;
    const toml::node& value = *v;
    const std::string_view k = key.str();
    if (k == "namespace") {
      if (!value.is_string()) return Invalid(source, value.source(), "namespace must be a string");
      std::string ns = value.value_or<std::string>("");
      if (Status s = ValidateName(ns, "namespace"); !s.ok()) {
        return Invalid(source, value.source(), s.message());
      }
      b.ns = std::move(ns);
      b.ns_pos = PosOf(value.source());
    } else if (k == "mode") {
      if (Status s = ParseMode(value, source, &b.mode); !s.ok()) return s;
      b.mode_pos = PosOf(value.source());
    } else if (k == "allow_world_writable") {
      if (!value.is_boolean()) {
        return Invalid(source, value.source(), "allow_world_writable must be true or false");
      }
      b.allow_world_writable = value.value_or(false);
    } else if (k == "limiters") {
      if (Status s = ParseLimiters(value, source, &b); !s.ok()) return s;
    } else if (k == "allotter") {
      AllotterConfig a;
      if (Status s = ParseAllotter(value, source, &a); !s.ok()) return s;
      b.allotter = std::move(a);
    } else {
      return Invalid(source, key.source(),
                     "unknown key '" + Printable(k) +
                         "' (expected namespace, mode, allow_world_writable, [limiters.NAME] "
                         "or [allotter])");
    }
  }
  if ((b.mode & 0002) != 0 && !b.allow_world_writable) {
    return Status(Code::kInvalidArgument,
                  b.ErrorAt(b.mode_pos, "mode " + FormatMode(b.mode) +
                                            " is world-writable: any user on the host could write "
                                            "the segment and deny service to every process using "
                                            "it; use a group mode like \"0660\", or add "
                                            "allow_world_writable = true to accept that risk"));
  }
  return b;
}

StatusOr<Budget> ReadBudget(std::istream& in, const std::string& source) {
  // Read at most one byte past the cap, so /dev/zero or an endless pipe
  // costs kMaxBudgetBytes of memory and then a clear error.
  std::string text(kMaxBudgetBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Status(Code::kIo, source + ": read error");
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxBudgetBytes) {
    return Status(Code::kInvalidArgument,
                  source + ": larger than 1 MiB, the most a budget file may hold");
  }
  return ParseBudget(text, source);
}

StatusOr<Budget> LoadBudgetFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return Status(Code::kInvalidArgument, path + ": cannot read: Is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return ErrnoStatus(path + ": cannot read", errno);
  }
  return ReadBudget(in, path);
}

bool ValidHostPort(std::string_view a, bool allow_port_zero) {
  const size_t colon = a.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size()) return false;
  const std::string_view port = a.substr(colon + 1);
  if (port.size() > 5) return false;
  uint32_t p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + static_cast<uint32_t>(c - '0');
  }
  for (char c : a.substr(0, colon)) {
    if (c == ' ' || c == '\t' || c == '/') return false;
  }
  return (p >= 1 || allow_port_zero) && p <= 65535;
}

}  // namespace sluice
