// Tells systemd (Type=notify) where a daemon stands: ready once it serves,
// reloading during a SIGHUP, stopping at SIGTERM. Through libsystemd's
// sd_notify; nothing happens when NOTIFY_SOCKET is unset (not under
// systemd, or Type=simple). Thread-safe.
#ifndef SLUICE_FLEET_LOG_SERVICE_NOTIFY_H_
#define SLUICE_FLEET_LOG_SERVICE_NOTIFY_H_

#include <string>

namespace sluice::fleet {

void NotifyReady(const std::string& status);  // READY=1 and a STATUS= line
void NotifyReloading();                       // RELOADING=1 (READY=1 again when done)
void NotifyStopping();                        // STOPPING=1

}  // namespace sluice::fleet

#endif  // SLUICE_FLEET_LOG_SERVICE_NOTIFY_H_
