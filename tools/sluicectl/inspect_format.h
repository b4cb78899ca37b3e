// Text and JSON forms of inspector snapshots (sluicectl ls / show / top).
#ifndef SLUICECTL_INSPECT_FORMAT_H_
#define SLUICECTL_INSPECT_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "sluice/admin/inspect.h"

namespace sluice {

// `ls`: a header line and one line per limiter, columns aligned.
std::string FormatTable(const Snapshot& snap);
// `show`: one "key: value" line per field.
std::string FormatShow(const LimiterRow& row, int64_t now_ns);

// JSON (one object, no trailing newline). Field names are stable and listed
// in docs/sluicectl.md; durations are integer nanoseconds (*_ns).
std::string RowToJson(const LimiterRow& row, int64_t now_ns);
std::string SnapshotToJson(const Snapshot& snap);
// A JSON string literal with quotes and escapes. Always valid JSON and
// UTF-8: control bytes become \u00XX, each byte of an invalid UTF-8
// sequence becomes U+FFFD.
std::string JsonQuote(std::string_view s);
// `s` for a terminal: bytes outside printable ASCII as \xNN.
std::string EscapeForDisplay(std::string_view s);

}  // namespace sluice

#endif  // SLUICECTL_INSPECT_FORMAT_H_
