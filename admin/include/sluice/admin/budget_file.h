// Budget files: a host's limiters in TOML (format in docs/sluicectl.md).
//
//   namespace = "web"          # optional
//   mode = "0660"              # optional, segment permissions (default 0600)
//   allow_world_writable = true  # optional: required for a mode with o+w
//   [limiters.NAME]            # one table per limiter (LimiterSpec keys)
//   [allotter]                 # optional: address (a comma list: several
//                              # allotters), token_file, tls_* (forwarder)
//
// ParseBudget validates the whole file (syntax, unknown keys at every level,
// types, ranges, durations, required keys, names) and reports the first
// problem as "FILE:LINE:COL: message". Nothing here touches a segment; see
// budget_apply.h for that.
#ifndef SLUICE_ADMIN_BUDGET_FILE_H_
#define SLUICE_ADMIN_BUDGET_FILE_H_

#include <cstddef>
#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/limiter_spec.h"
#include "sluice/status.h"

namespace sluice {

// A position in a budget file (1-based).
struct SourcePos {
  uint32_t line = 1;
  uint32_t column = 1;
};

struct BudgetLimiter {
  std::string name;
  LimiterSpec spec;
  SourcePos pos;            // the [limiters.NAME] header (or inline table)
  SourcePos algorithm_pos;  // the `algorithm` value
};

struct AllotterConfig {
  std::string address;                 // as written: "host:port", or a comma list of them
  std::vector<std::string> addresses;  // address split at the commas
  std::string token_file;              // path of the shared token (may be empty)
  std::string tls_ca;                  // PEM root: TLS to the allotter when set
  std::string tls_cert;                // PEM client certificate and key (mutual TLS; optional)
  std::string tls_key;
};

// A parsed, validated budget file. Plain value type.
struct Budget {
  std::string source;             // file name used in messages
  std::optional<std::string> ns;  // `namespace`, if set
  SourcePos ns_pos;
  uint32_t mode = 0600;  // `mode`, permission bits
  SourcePos mode_pos;
  bool allow_world_writable = false;    // o+w in `mode` is refused without it
  std::vector<BudgetLimiter> limiters;  // in file order
  SourcePos limiters_pos;               // the [limiters] table
  std::optional<AllotterConfig> allotter;

  // "FILE:LINE:COL: message".
  std::string ErrorAt(SourcePos pos, const std::string& message) const;
};

// Parses and validates budget-file text. `source` names it in errors.
StatusOr<Budget> ParseBudget(std::string_view text, std::string_view source);

// The largest budget file read: a longer input (/dev/zero, a runaway pipe)
// is refused after reading this many bytes, never buffered whole.
constexpr size_t kMaxBudgetBytes = size_t{1} << 20;  // 1 MiB

// Reads `path` and parses it (errors name `path`). kNotFound / kIo /
// kPermission when the file cannot be read, kInvalidArgument when invalid
// or larger than kMaxBudgetBytes.
StatusOr<Budget> LoadBudgetFile(const std::string& path);
// The same for an open stream (e.g. standard input), named `source` in errors.
StatusOr<Budget> ReadBudget(std::istream& in, const std::string& source);

// "host:port" with a non-empty host (no spaces or '/') and a port in
// 1..65535 (0 too with allow_port_zero: any free port, for tests).
bool ValidHostPort(std::string_view address, bool allow_port_zero = false);

}  // namespace sluice

#endif  // SLUICE_ADMIN_BUDGET_FILE_H_
