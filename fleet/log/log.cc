#include "log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

namespace sluice::fleet {
namespace {

bool g_json = false;
std::shared_ptr<spdlog::logger> g_logger;

spdlog::level::level_enum ToSpd(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::shared_ptr<spdlog::logger> Logger() {
  if (!g_logger) {
    // Not set up (tests, early errors): plain, info and above.
    SetupLog("sluice", "info", false);
  }
  return g_logger;
}

}  // namespace

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
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
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

Status SetupLog(std::string_view daemon, std::string_view level, bool json) {
  LogLevel l;
  if (level == "debug") {
    l = LogLevel::kDebug;
  } else if (level == "info") {
    l = LogLevel::kInfo;
  } else if (level == "warn") {
    l = LogLevel::kWarn;
  } else if (level == "error") {
    l = LogLevel::kError;
  } else {
    return Status(Code::kInvalidArgument,
                  "log level must be debug, info, warn or error, not '" + std::string(level) + "'");
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(daemon), sink);
  // Names and levels are plain ASCII; the message is escaped in Log().
  const std::string pattern =
      json ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","daemon":"%n","level":"%l","msg":"%v"})"
           : "%Y-%m-%dT%H:%M:%S.%eZ %n %l: %v";
  logger->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  logger->set_level(ToSpd(l));
  logger->flush_on(spdlog::level::trace);  // one event, one write: tests and journald see it
  g_json = json;
  g_logger = std::move(logger);
  return Status::OK();
}

void Log(LogLevel level, std::string_view message) {
  std::shared_ptr<spdlog::logger> logger = Logger();
  if (!logger->should_log(ToSpd(level))) return;
  std::string m = g_json ? JsonEscape(message) : std::string(message);
  if (!g_json) {
    for (char& c : m) {
      if (c == '\n' || c == '\r') c = ' ';
    }
  }
  logger->log(ToSpd(level), "{}", m);
}

}  // namespace sluice::fleet
