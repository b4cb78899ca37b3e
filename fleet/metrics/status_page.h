// The allotter's status page (served at / of its metrics port): one HTML
// document with its script and style inline, no external assets, that polls
// /status.json every second and draws, per resource, the limit, learning
// mode, epoch, fallbacks and each host's share against its demand over the
// last minutes (an inline SVG chart). Text from the daemon goes into the
// page through textContent only.
#ifndef SLUICE_FLEET_METRICS_STATUS_PAGE_H_
#define SLUICE_FLEET_METRICS_STATUS_PAGE_H_

#include <string>
#include <string_view>

namespace sluice::fleet::metrics {

extern const char kStatusPageHtml[];

// `s` as a JSON string literal, quotes included (control bytes as \u00XX).
std::string JsonQuote(std::string_view s);

}  // namespace sluice::fleet::metrics

#endif  // SLUICE_FLEET_METRICS_STATUS_PAGE_H_
