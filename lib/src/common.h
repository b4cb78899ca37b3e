// Small helpers shared by the core and the admin library (internal): one
// copy of each, so a message or a rounding rule is written once.
#ifndef SLUICE_SRC_COMMON_H_
#define SLUICE_SRC_COMMON_H_

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice {

// v rounded up to a multiple of a. REQUIRES: a > 0, no overflow.
constexpr uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Permission bits as a four-digit octal string ("0640").
inline std::string FormatMode(uint32_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

// "<source>:LINE:COL: message": where a budget file or limiter spec is wrong.
inline std::string PositionedError(std::string_view source, uint64_t line, uint64_t column,
                                   const std::string& message) {
  return std::string(source) + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
         message;
}

// "<what>: <strerror>" with the code an errno value means to a caller:
// kPermission (EACCES, EPERM), kNotFound (ENOENT), kIo otherwise.
inline Status ErrnoStatus(const std::string& what, int err) {
  const Code code = (err == EACCES || err == EPERM) ? Code::kPermission
                    : err == ENOENT                 ? Code::kNotFound
                                                    : Code::kIo;
  return Status(code, what + ": " + std::strerror(err));
}

}  // namespace sluice

#endif  // SLUICE_SRC_COMMON_H_
