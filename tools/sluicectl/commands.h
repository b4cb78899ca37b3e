// sluicectl's verbs. Each Add* registers a subcommand whose callback stores
// the verb's exit status in *exit_code (0 ok/granted, 1 not granted or
// failed check, 2 usage or input error).
#ifndef SLUICE_TOOLS_SLUICECTL_COMMANDS_H_
#define SLUICE_TOOLS_SLUICECTL_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <string>

#include "sluice/status.h"

namespace sluicectl {

constexpr int kOk = 0;
constexpr int kNotGranted = 1;
constexpr int kUsage = 2;

// Adds -n/--namespace to `verb`, defaulting to $SLUICE_NAMESPACE or "default".
void AddNamespaceOption(CLI::App* verb, std::string* ns);
// Prints "sluicectl: <message>" on stderr; returns kUsage.
int Fail(const std::string& message);
int Fail(const sluice::Status& status);
// Parses a --timeout/--duration value ("800ms", "2s"; "forever" -> -1).
bool ParseDurationArg(const std::string& text, bool allow_forever, int64_t* out, std::string* err);

void AddApply(CLI::App& app, int* exit_code);
void AddRm(CLI::App& app, int* exit_code);
void AddLs(CLI::App& app, int* exit_code);
void AddShow(CLI::App& app, int* exit_code);
void AddTop(CLI::App& app, int* exit_code);
void AddAcquire(CLI::App& app, int* exit_code);
void AddLease(CLI::App& app, int* exit_code);
void AddBench(CLI::App& app, int* exit_code);
void AddShare(CLI::App& app, int* exit_code);

}  // namespace sluicectl

#endif  // SLUICE_TOOLS_SLUICECTL_COMMANDS_H_
