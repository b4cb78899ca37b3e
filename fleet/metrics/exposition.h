// The Prometheus text exposition format (version 0.0.4), written: one
// family at a time (# HELP, # TYPE, then its samples), names checked, label
// values and help text escaped. What /metrics of both fleet daemons serves
// (docs/fleet.md, "Metrics"). Not thread-safe.
#ifndef SLUICE_FLEET_METRICS_EXPOSITION_H_
#define SLUICE_FLEET_METRICS_EXPOSITION_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::fleet::metrics {

enum class MetricType { kCounter, kGauge };

using Labels = std::vector<std::pair<std::string, std::string>>;

// The content type /metrics answers with.
inline constexpr const char* kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

// True for a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) and, without
// ':', a valid label name.
bool ValidMetricName(std::string_view name);
bool ValidLabelName(std::string_view name);

// A label value or help text escaped as the format wants: backslash and
// newline, and (label values only) the double quote.
std::string EscapeLabelValue(std::string_view v);
std::string EscapeHelp(std::string_view v);
// A sample value: integers exactly, others with 17 significant digits,
// "+Inf", "-Inf", "NaN".
std::string FormatValue(double v);

class TextWriter {
 public:
  // Starts a family. A counter's samples are named `name` + "_total".
  // REQUIRES: ValidMetricName(name), name not ending in "_total", each name
  // once per exposition.
  void Family(std::string_view name, MetricType type, std::string_view help);
  // A sample of the current family. REQUIRES: Family() was called; label
  // names valid.
  void Sample(const Labels& labels, double value);
  void Sample(double value) { Sample({}, value); }

  const std::string& text() const { return out_; }

 private:
  std::string out_;
  std::string sample_name_;
};

}  // namespace sluice::fleet::metrics

#endif  // SLUICE_FLEET_METRICS_EXPOSITION_H_
