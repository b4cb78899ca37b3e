// apply FILE and rm: changing what a namespace holds.
#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.h"
#include "sluice/admin/budget_apply.h"
#include "sluice/admin/budget_file.h"
#include "sluice/segment.h"

namespace sluicectl {

void AddApply(CLI::App& app, int* exit_code) {
  struct Opts {
    std::string ns;
    std::string file;
    bool prune = false;
    bool dry_run = false;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* verb = app.add_subcommand("apply", "validate a budget file, then define its limiters");
  verb->add_option("FILE", o->file, "budget file (TOML, at most 1 MiB); - reads standard input")
      ->required();
  AddNamespaceOption(verb, &o->ns);
  verb->add_flag("--prune", o->prune,
                 "retire limiters that are not in the file (default: keep them)");
  verb->add_flag("--dry-run", o->dry_run, "validate and show what would change; change nothing");
  verb->add_flag("-q,--quiet", o->quiet, "print nothing on success");
  verb->footer(
      "The whole file is validated first (syntax, unknown keys, types, ranges, durations,\n"
      "and that no limiter changes algorithm); on any error nothing changes and the error\n"
      "reads FILE:LINE:COL: message (exit 2). Same file twice: no change. Changed\n"
      "parameters apply live, keeping state. -n overrides the file's `namespace`.\n"
      "apply only writes into a segment you own (another user's: remove it first), and a\n"
      "world-writable mode needs allow_world_writable = true in the file.\n"
      "Examples:\n"
      "  sluicectl apply budget.toml\n"
      "  sluicectl apply --dry-run budget.toml\n"
      "  sluicectl apply --prune -n web budget.toml");
  verb->callback([o, exit_code, verb] {
    sluice::StatusOr<sluice::Budget> b =
        sluice::Status(sluice::Code::kInvalidArgument, "unreachable");
    if (o->file == "-") {
      b = sluice::ReadBudget(std::cin, "<stdin>");
    } else {
      b = sluice::LoadBudgetFile(o->file);
    }
    if (!b.ok()) {
      *exit_code = Fail(b.status());
      return;
    }
    sluice::ApplyOptions opts;
    // An explicit -n wins over the file's namespace.
    if (verb->count("--namespace") > 0)
      opts.ns = o->ns;
    else if (!b->ns)
      opts.ns = o->ns;
    opts.prune = o->prune;
    opts.dry_run = o->dry_run;
    sluice::StatusOr<sluice::ApplyReport> r = sluice::ApplyBudget(*b, opts);
    if (!r.ok()) {
      *exit_code = Fail(r.status());
      return;
    }
    if (!o->quiet) std::fputs(sluice::FormatApplyReport(*r).c_str(), stdout);
    *exit_code = kOk;
  });
}

void AddRm(CLI::App& app, int* exit_code) {
  struct Opts {
    std::string ns;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* verb = app.add_subcommand("rm", "remove a namespace (its shared-memory segment)");
  AddNamespaceOption(verb, &o->ns);
  verb->add_flag("-f,--force", o->force,
                 "no error if the namespace does not exist (permission denied still is one)");
  verb->footer(
      "Unlinks /dev/shm/sluice.NS. Processes still attached keep their mapping and keep\n"
      "sharing it among themselves; processes that open NS afterwards get a new, empty\n"
      "segment (after the next apply). -n must be given explicitly.\n"
      "Examples:\n"
      "  sluicectl rm -n web\n"
      "  sluicectl rm -f -n ci-1234");
  verb->callback([o, exit_code, verb] {
    if (verb->count("--namespace") == 0) {
      *exit_code =
          Fail("rm needs an explicit -n NAMESPACE (it will not remove '" + o->ns + "' implicitly)");
      return;
    }
    sluice::Status s = sluice::Segment::Remove(o->ns);
    if (!s.ok() && !(o->force && s.code() == sluice::Code::kNotFound)) {
      *exit_code = Fail(s);
      return;
    }
    *exit_code = kOk;
  });
}

}  // namespace sluicectl
