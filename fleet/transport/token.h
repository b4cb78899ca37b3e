// The fleet's shared token: read from a file only its owner may read, and
// compared in constant time. Thread-safe (free functions over values).
#ifndef SLUICE_FLEET_TRANSPORT_TOKEN_H_
#define SLUICE_FLEET_TRANSPORT_TOKEN_H_

#include <string>
#include <string_view>

#include "sluice/status.h"

namespace sluice::fleet {

constexpr size_t kMaxTokenBytes = 4096;

// The first line of `path`, without its line end. kPermission when the file
// is readable or writable by group or others (chmod 600 it); kInvalidArgument
// when it is not a regular file, is empty, longer than kMaxTokenBytes or
// holds control bytes; kNotFound / kIo when it cannot be read. Every message
// names the file.
StatusOr<std::string> ReadTokenFile(const std::string& path);

// a == b, in a time that depends only on the lengths (never on where they
// differ).
bool SameToken(std::string_view expected, std::string_view got);

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_TRANSPORT_TOKEN_H_
