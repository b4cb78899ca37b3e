// ls and show: read-only views of a namespace (never block its users).
#include <cstdio>
#include <memory>

#include "commands.h"
#include "inspect_format.h"

namespace sluicectl {

void AddLs(CLI::App& app, int* exit_code) {
  struct Opts {
    std::string ns;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* verb =
      app.add_subcommand("ls", "list a namespace's limiters with their level and counters");
  AddNamespaceOption(verb, &o->ns);
  verb->add_flag("--json", o->json, "one JSON object (fields in docs/sluicectl.md)");
  verb->footer(
      "Maps the segment read-only. Counters are flushed by each process in batches\n"
      "(after 64 decisions, or on the first decision 1 ms after the last flush).\n"
      "Examples:\n"
      "  sluicectl ls\n"
      "  sluicectl ls -n web --json | jq '.limiters[].name'");
  verb->callback([o, exit_code] {
    sluice::StatusOr<sluice::Inspector> in = sluice::Inspector::Open(o->ns);
    if (!in.ok()) {
      *exit_code = Fail(in.status());
      return;
    }
    const sluice::Snapshot snap = in->Take();
    const std::string out =
        o->json ? sluice::SnapshotToJson(snap) + "\n" : sluice::FormatTable(snap);
    std::fputs(out.c_str(), stdout);
    *exit_code = kOk;
  });
}

void AddShow(CLI::App& app, int* exit_code) {
  struct Opts {
    std::string ns;
    std::string name;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* verb = app.add_subcommand("show", "one limiter in detail");
  verb->add_option("NAME", o->name, "limiter name")->required();
  AddNamespaceOption(verb, &o->ns);
  verb->add_flag("--json", o->json, "one JSON object (fields in docs/sluicectl.md)");
  verb->footer(
      "Examples:\n"
      "  sluicectl show partner-api\n"
      "  sluicectl show -n web partner-api --json");
  verb->callback([o, exit_code] {
    sluice::StatusOr<sluice::Inspector> in = sluice::Inspector::Open(o->ns);
    if (!in.ok()) {
      *exit_code = Fail(in.status());
      return;
    }
    const sluice::Snapshot snap = in->Take();
    const sluice::LimiterRow* row = snap.Find(o->name);
    if (row == nullptr) {
      *exit_code = Fail("no limiter '" + o->name + "' in namespace '" + o->ns + "'");
      return;
    }
    const std::string out = o->json ? sluice::RowToJson(*row, snap.taken_ns) + "\n"
                                    : sluice::FormatShow(*row, snap.taken_ns);
    std::fputs(out.c_str(), stdout);
    *exit_code = kOk;
  });
}

}  // namespace sluicectl
