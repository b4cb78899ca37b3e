// acquire and lease: budgets for shell scripts and cron jobs.
#include <memory>
#include <optional>
#include <vector>

#include "commands.h"
#include "lease_holder.h"
#include "sluice/limiter.h"
#include "sluice/segment.h"

namespace sluicectl {
namespace {

// Opens `ns` read-write and finds `name`; on failure prints and returns nullopt.
std::optional<sluice::Limiter> FindLimiter(const std::string& ns, const std::string& name) {
  sluice::StatusOr<sluice::Segment> seg = sluice::Segment::Open(ns);
  if (!seg.ok()) {
    Fail(seg.status());
    return std::nullopt;
  }
  sluice::StatusOr<sluice::Limiter> l = seg->Find(name);
  if (!l.ok()) {
    Fail(l.status());
    return std::nullopt;
  }
  return *l;
}

// Parses --timeout and finds the limiter; on failure prints, sets
// *exit_code and returns nullopt.
std::optional<sluice::Limiter> Prepare(const std::string& ns, const std::string& name,
                                       const std::string& timeout_text, int64_t* timeout,
                                       int* exit_code) {
  std::string err;
  if (!ParseDurationArg(timeout_text, true, timeout, &err)) {
    *exit_code = Fail("--timeout: " + err);
    return std::nullopt;
  }
  std::optional<sluice::Limiter> lim = FindLimiter(ns, name);
  if (!lim) *exit_code = kUsage;
  return lim;
}

}  // namespace

void AddAcquire(CLI::App& app, int* exit_code) {
  struct Opts {
    std::string ns, name, timeout = "0";
    uint32_t permits = 1;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* verb =
      app.add_subcommand("acquire", "take permits from a limiter (exit 0 granted, 1 not)");
  verb->add_option("NAME", o->name, "limiter name")->required();
  AddNamespaceOption(verb, &o->ns);
  verb->add_option("-k,--permits", o->permits, "permits to take")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 30));
  verb->add_option("-t,--timeout", o->timeout,
                   "how long to wait: 0 (try once), a duration like 2s, or forever")
      ->capture_default_str();
  verb->footer(
      "Permits are not given back (a lease limiter's anonymous grant lapses after ttl,\n"
      "or when sluicectl exits if the limiter has reclaim = true: use lease -- CMD).\n"
      "Examples:\n"
      "  sluicectl acquire partner-api && curl https://partner/...\n"
      "  sluicectl acquire -n web search --permits 5 --timeout 2s || echo busy");
  verb->callback([o, exit_code] {
    int64_t timeout = 0;
    std::optional<sluice::Limiter> lim = Prepare(o->ns, o->name, o->timeout, &timeout, exit_code);
    if (!lim) return;
    if (timeout == 0) {
      const sluice::Decision d = lim->TryAcquire(o->permits);
      if (d.denial == sluice::Denial::kNever) {
        const sluice::Status never = lim->spec().CheckPermits(o->permits);
        *exit_code = Fail(never.ok() ? "permits exceed the limiter's capacity" : never.message());
        return;
      }
      if (d.denial == sluice::Denial::kReadOnly) {
        *exit_code = Fail("segment is mapped read-only");
        return;
      }
      *exit_code = d.granted ? kOk : kNotGranted;
      return;
    }
    const sluice::Status s = lim->Acquire(o->permits, timeout);
    if (s.ok())
      *exit_code = kOk;
    else if (s.code() == sluice::Code::kTimeout)
      *exit_code = kNotGranted;
    else
      *exit_code = Fail(s);
  });
}

void AddLease(CLI::App& app, int* exit_code) {
  struct Opts {
    std::string ns, name, timeout = "forever";
    bool no_renew = false;
    std::vector<std::string> cmd;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* verb =
      app.add_subcommand("lease", "run a command holding a lease; pass its exit status through");
  verb->add_option("NAME", o->name, "lease limiter name")->required();
  verb->add_option("CMD", o->cmd, "command and arguments, after --")->required();
  AddNamespaceOption(verb, &o->ns);
  verb->add_option("-t,--timeout", o->timeout,
                   "how long to wait for the lease: 0, a duration, or forever")
      ->capture_default_str();
  verb->add_flag("--no-renew", o->no_renew, "let the lease lapse after ttl even if CMD still runs");
  verb->footer(
      "A guard process renews the lease every ttl/3 and releases it once CMD and every\n"
      "process it started have exited. If sluicectl is killed, or a renewal fails, the\n"
      "guard kills them all first (docs/sluicectl.md: what is guaranteed, what is not).\n"
      "CMD sees the fencing token in $SLUICE_LEASE_TOKEN. Exit status: CMD's own\n"
      "(128+N if killed by signal N), 1 if the lease was not granted in time, 2 on usage\n"
      "errors, 127 if CMD could not be started.\n"
      "Examples:\n"
      "  sluicectl lease db-migration -- ./migrate.sh --all\n"
      "  sluicectl lease -n web nightly --timeout 0 -- rsync -a src/ dst/");
  verb->callback([o, exit_code] {
    int64_t timeout = 0;
    std::optional<sluice::Limiter> lim = Prepare(o->ns, o->name, o->timeout, &timeout, exit_code);
    if (!lim) return;
    if (lim->spec().algorithm != sluice::Algorithm::kLease) {
      *exit_code = Fail("limiter '" + o->name + "' is " + lim->spec().Describe() +
                        ", not a lease limiter (use acquire)");
      return;
    }
    sluice::StatusOr<sluice::Lease> lease = lim->AcquireLease(timeout);
    if (!lease.ok()) {
      *exit_code =
          lease.status().code() == sluice::Code::kTimeout ? kNotGranted : Fail(lease.status());
      return;
    }
    *exit_code = RunHolding(*lim, *lease, o->cmd, o->no_renew);
  });
}

}  // namespace sluicectl
