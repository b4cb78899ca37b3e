// gRPC credentials for the fleet: TLS from PEM files (tls_cert, tls_key,
// tls_ca), or plaintext when none is set. Thread-safe (free functions).
//
// Server (sluice-allotter): tls_cert and tls_key together turn TLS on;
// tls_ca adds client certificates: only forwarders presenting one signed
// by it are served (mutual TLS).
// Client (sluice-forwarder): tls_ca turns TLS on and is the root the
// allotter's certificate must chain to (its name must match the address's
// host); tls_cert and tls_key (together) are the client certificate.
#ifndef SLUICE_FLEET_TRANSPORT_TLS_H_
#define SLUICE_FLEET_TRANSPORT_TLS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "sluice/status.h"

namespace sluice::fleet {

struct TlsFiles {
  std::string cert;  // PEM certificate chain
  std::string key;   // PEM private key
  std::string ca;    // PEM root certificate(s)
  bool enabled_server() const { return !cert.empty() || !key.empty(); }
  bool enabled_client() const { return !ca.empty(); }
  bool operator==(const TlsFiles& o) const { return cert == o.cert && key == o.key && ca == o.ca; }
};

// kInvalidArgument (file names in the message) when the set is incomplete
// or a file cannot be read or is not PEM.
StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& f);
StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const TlsFiles& f);

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_TRANSPORT_TLS_H_
