// The fleet daemons' log: one line per event on stderr (journald takes it
// under systemd), with a level, as plain text or as one JSON object per
// line. Over spdlog; only log.cc includes it. Thread-safe once set up.
//
//   2026-12-02T11:26:28.123Z sluice-allotter info: listening on 127.0.0.1:7300
//   {"time":"2026-12-02T11:26:28.123Z","daemon":"sluice-allotter","level":"info","msg":"..."}
#ifndef SLUICE_FLEET_LOG_LOG_H_
#define SLUICE_FLEET_LOG_LOG_H_

#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice::fleet {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Sets the process's log up. kInvalidArgument for a level other than
// debug, info, warn, error. REQUIRES: called once, before other threads log.
Status SetupLog(std::string_view daemon, std::string_view level, bool json);

// Writes one event (a message with line breaks is kept on one line). Below
// the level set up: nothing. Before SetupLog: info and above, plain.
void Log(LogLevel level, std::string_view message);

// `s` as the inside of a JSON string (quotes, backslashes, control bytes).
std::string JsonEscape(std::string_view s);

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_LOG_LOG_H_
