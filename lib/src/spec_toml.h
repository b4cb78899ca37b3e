// Reading limiter tables from TOML (toml++). Shared by sluice_define's spec
// strings and the budget-file parser. Every error reads
// "<source>:LINE:COL: message", pointing at the offending key or value.
#ifndef SLUICE_SRC_SPEC_TOML_H_
#define SLUICE_SRC_SPEC_TOML_H_

#include <toml++/toml.h>

#include <string>
#include <string_view>

#include "sluice/limiter_spec.h"
#include "sluice/status.h"

namespace sluice {

// "<source>:LINE:COL: message" for a node's position.
std::string ErrorAt(std::string_view source, const toml::source_region& where,
                    const std::string& message);

// Converts one [limiters.NAME] table; errors are "<source>:LINE:COL:
// message" at the offending key, or at the table itself for a missing key.
StatusOr<LimiterSpec> SpecFromTable(const toml::table& table, std::string_view source);

// Parses TOML text; on a syntax error, the parser's message with position.
StatusOr<toml::table> ParseToml(std::string_view text, std::string_view source);

}  // namespace sluice

#endif  // SLUICE_SRC_SPEC_TOML_H_
