#include "server_limits.h"

#include <grpcpp/resource_quota.h>

namespace sluice::fleet {

void ApplyServerLimits(const ServerLimits& limits, grpc::ServerBuilder* builder) {
  builder->SetMaxReceiveMessageSize(limits.max_receive_bytes);
  builder->SetMaxSendMessageSize(limits.max_send_bytes);
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams);
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                              static_cast<int>(limits.max_connection_idle_ms));
  builder->AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                              static_cast<int>(limits.handshake_timeout_ms));
  // The quota outlives this call: the builder keeps a reference.
  grpc::ResourceQuota quota("sluice-allotter");
  quota.SetMaxThreads(limits.max_threads);
  builder->SetResourceQuota(quota);
}

}  // namespace sluice::fleet
