// Between the wire (sluice_fleet.proto) and the allotter library's plain
// structs: the one place the daemons translate. Thread-safe (no state).
#ifndef SLUICE_FLEET_PROTO_CONVERT_H_
#define SLUICE_FLEET_PROTO_CONVERT_H_

#include "allotter.h"
#include "sluice_fleet.pb.h"

namespace sluice::fleet {

constexpr uint32_t kProtocol = 1;
// Trailing metadata of an UNAVAILABLE answer from an allotter that does not
// lead: the leader's address (absent while none is known).
constexpr char kLeaderMetadata[] = "sluice-leader";

void ToProto(const RefreshIn& in, const std::string& token, v1::RefreshRequest* out);
RefreshIn FromProto(const v1::RefreshRequest& in);
void ToProto(const RefreshOut& in, v1::RefreshReply* out);
RefreshOut FromProto(const v1::RefreshReply& in);

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_PROTO_CONVERT_H_
