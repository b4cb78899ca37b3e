#include "service_notify.h"

#include <systemd/sd-daemon.h>

namespace sluice::fleet {

void NotifyReady(const std::string& status) { sd_notify(0, ("READY=1\nSTATUS=" + status).c_str()); }

void NotifyReloading() { sd_notify(0, "RELOADING=1"); }

void NotifyStopping() { sd_notify(0, "STOPPING=1"); }

}  // namespace sluice::fleet
