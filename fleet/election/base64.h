// Standard base64 (RFC 4648, with padding): etcd's JSON gateway carries
// keys and values so. Thread-safe (no state).
#ifndef SLUICE_FLEET_ELECTION_BASE64_H_
#define SLUICE_FLEET_ELECTION_BASE64_H_

#include <string>

#include "sluice/status.h"

namespace sluice::fleet {

std::string Base64Encode(const std::string& in);
// kInvalidArgument on a malformed input (bad length, character or padding).
StatusOr<std::string> Base64Decode(const std::string& in);

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_ELECTION_BASE64_H_
