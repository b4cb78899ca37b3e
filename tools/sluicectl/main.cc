// sluicectl: budgets, inspection and shell access for sluice namespaces.
// A thin main over libsluice; see docs/sluicectl.md.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "sluice/duration.h"
#include "sluice/segment.h"

namespace sluicectl {

void AddNamespaceOption(CLI::App* verb, std::string* ns) {
  *ns = sluice::Segment::DefaultNamespace();
  verb->add_option("-n,--namespace", *ns, "namespace (default: $SLUICE_NAMESPACE or \"default\")")
      ->capture_default_str();
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "sluicectl: %s\n", message.c_str());
  return kUsage;
}

int Fail(const sluice::Status& status) { return Fail(status.message()); }

bool ParseDurationArg(const std::string& text, bool allow_forever, int64_t* out, std::string* err) {
  if (allow_forever && text == "forever") {
    *out = -1;
    return true;
  }
  if (text == "0") {
    *out = 0;
    return true;
  }
  sluice::StatusOr<int64_t> d = sluice::ParseDuration(text);
  if (!d.ok()) {
    *err = d.status().message();
    return false;
  }
  *out = *d;
  return true;
}

}  // namespace sluicectl

int main(int argc, char** argv) {
  using namespace sluicectl;
  CLI::App app{"sluicectl: manage, inspect and use sluice rate limiters on this host"};
  app.name("sluicectl");
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  sluicectl apply /etc/sluice/budget.toml\n"
      "  sluicectl ls -n web\n"
      "  sluicectl show partner-api --json\n"
      "  sluicectl acquire partner-api --timeout 2s && curl ...\n"
      "  sluicectl lease db-migration -- ./migrate.sh\n"
      "  sluicectl share fleet-api 40 --for 10m --fallback 10\n"
      "Exit status: 0 success/granted, 1 not granted, 2 usage or input error.\n"
      "Run 'sluicectl VERB --help' for a verb's options.");
  int code = kOk;
  AddApply(app, &code);
  AddLs(app, &code);
  AddShow(app, &code);
  AddTop(app, &code);
  AddAcquire(app, &code);
  AddLease(app, &code);
  AddBench(app, &code);
  AddShare(app, &code);
  AddRm(app, &code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string what = e.what();
    for (char& c : what) {
      if (c == '\n') c = ' ';
    }
    std::fprintf(stderr, "sluicectl: %s (see sluicectl --help)\n", what.c_str());
    return kUsage;
  }
  return code;
}
