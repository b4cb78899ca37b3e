// allotter.toml: what sluice-allotter divides (format in docs/fleet.md).
//
//   listen = "127.0.0.1:7300"
//   token_file = "/etc/sluice/token"   # forwarders must send it (or --insecure)
//   tls_cert = "/etc/sluice/allotter.pem"  # optional TLS: certificate chain,
//   tls_key = "/etc/sluice/allotter.key"   # its key,
//   tls_ca = "/etc/sluice/ca.pem"          # and (optional) the clients' CA
//   [resources.NAME]                   # one per fleet-wide limit
//   algorithm = "sliding"              # and its keys, as in a budget file
//   limit = 100
//   window = "1s"
//   division = "fair"                  # static | proportional | fair
//   lease = "5s"                       # a share holds this long unrefreshed
//   refresh = "1s"                     # how often forwarders ask
//   reserved = 0                       # fleet-wide amount for fallbacks
//   fallback_for = "5s"                # optional: how long a fallback lasts
//
// ParseAllotterConfig validates the whole file and reports the first
// problem as "FILE:LINE:COL: message". Not thread-safe (plain values).
#ifndef SLUICE_FLEET_ALLOTTER_CONFIG_H_
#define SLUICE_FLEET_ALLOTTER_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/limiter_spec.h"
#include "sluice/status.h"

namespace sluice::fleet {

enum class Division { kStatic, kProportional, kFair };
const char* DivisionName(Division d);  // "static", "proportional", "fair"

struct ResourceConfig {
  std::string name;
  LimiterSpec spec;  // the fleet-wide limit (algorithm, amount, shape)
  Division division = Division::kFair;
  int64_t lease_ns = 5'000'000'000;
  int64_t refresh_ns = 1'000'000'000;
  uint64_t reserved = 0;  // out of Amount(): for fallbacks
  int64_t fallback_for_ns = 0;

  // The divisible amount: gcra rate, window/sliding limit, lease holders.
  uint64_t Amount() const;
  // How long a host may still be using an amount after it stopped being in
  // force: window (sliding), two windows (window: aligned per host clock),
  // ttl (lease), period plus the time to earn the whole burst back (gcra).
  int64_t TailNs() const;
  // gcra: the smallest share that still gets a burst of >= 1 (rate/burst
  // rounded up); 1 for the others. Shares are multiples of it.
  uint64_t Granule() const;
  // gcra: the burst of a share of `amount` (proportional, rounded down).
  uint64_t BurstFor(uint64_t amount) const;
};

struct AllotterConfig {
  std::string source;
  std::string listen;
  std::string token_file;
  std::string tls_cert, tls_key, tls_ca;  // PEM paths (fleet/transport/tls.h)
  std::vector<ResourceConfig> resources;  // file order
  std::vector<std::string> warnings;      // what cannot be split as configured
};

StatusOr<AllotterConfig> ParseAllotterConfig(std::string_view text, std::string_view source);
// kNotFound / kIo when unreadable, kInvalidArgument when invalid.
StatusOr<AllotterConfig> LoadAllotterConfig(const std::string& path);

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_ALLOTTER_CONFIG_H_
