// What one sluice-allotter process accepts: message sizes, concurrent
// streams, threads, idle connections. Applied to a grpc::ServerBuilder
// before BuildAndStart. Not thread-safe (a builder has one owner).
#ifndef SLUICE_FLEET_TRANSPORT_SERVER_LIMITS_H_
#define SLUICE_FLEET_TRANSPORT_SERVER_LIMITS_H_

#include <grpcpp/server_builder.h>

#include <cstdint>

namespace sluice::fleet {

struct ServerLimits {
  int max_receive_bytes = 4 << 20;  // a refresh of 4096 resources is ~400 KiB
  int max_send_bytes = 4 << 20;
  int max_concurrent_streams = 16;  // per connection (a forwarder has one call at a time)
  int max_threads = 64;             // gRPC's sync-server threads (ResourceQuota)
  int64_t max_connection_idle_ms = 5 * 60 * 1000;  // idle connections are closed
  int64_t handshake_timeout_ms = 5000;             // a connection that never speaks
};

void ApplyServerLimits(const ServerLimits& limits, grpc::ServerBuilder* builder);

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_TRANSPORT_SERVER_LIMITS_H_
