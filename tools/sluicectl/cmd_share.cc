// sluicectl share: set this host's share of a global (fleet) limiter by
// hand, for an operator without an allotter or in an emergency.
#include <memory>
#include <string>

#include "commands.h"
#include "sluice/admin/share.h"
#include "sluice/duration.h"
#include "sluice/limiter.h"
#include "sluice/segment.h"

namespace sluicectl {

void AddShare(CLI::App& app, int* exit_code) {
  struct Opts {
    std::string ns;
    std::string name;
    uint64_t amount = 0;
    uint64_t burst = 0;
    std::string for_text;
    uint64_t fallback = 0;
    std::string fallback_for_text;
    int64_t epoch = -1;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* verb = app.add_subcommand("share", "set this host's share of a global limiter");
  AddNamespaceOption(verb, &o->ns);
  verb->add_option("name", o->name, "the global limiter (global = true in the budget file)")
      ->required();
  verb->add_option("amount", o->amount,
                   "its amount: gcra rate per period, window/sliding limit, lease holders")
      ->required();
  verb->add_option("--burst", o->burst, "gcra: the burst (default: the cap's, scaled)");
  verb->add_option("--for", o->for_text, "how long the share holds (default: until replaced)");
  verb->add_option("--fallback", o->fallback, "the amount once the share has ended (default 0)");
  verb->add_option("--fallback-for", o->fallback_for_text,
                   "how long the fallback holds after the share (default: until replaced)");
  verb->add_option("--epoch", o->epoch,
                   "the share's epoch (default: the one in force; an allotter's share of a "
                   "higher epoch replaces it)");
  verb->footer(
      "The library enforces the share on every decision: amounts above the budget file's\n"
      "cap are cut to it; after --for the fallback holds, then 0 (workers are denied).\n"
      "Examples:\n"
      "  sluicectl share partner-api 40 --for 10m --fallback 10\n"
      "  sluicectl share -n web fleet-api 100 --burst 20");
  verb->callback([o, exit_code] {
    const int64_t now = sluice::MonotonicNowNs();
    sluice::admin::Share share;
    share.amount = o->amount;
    share.burst = o->burst;
    std::string err;
    int64_t d = 0;
    if (!o->for_text.empty()) {
      if (!ParseDurationArg(o->for_text, false, &d, &err)) {
        *exit_code = Fail("--for: " + err);
        return;
      }
      share.expires_ns = now + d;
    }
    share.fallback_amount = o->fallback;
    share.fallback_until_ns = sluice::admin::kForever;
    if (!o->fallback_for_text.empty()) {
      if (!ParseDurationArg(o->fallback_for_text, false, &d, &err)) {
        *exit_code = Fail("--fallback-for: " + err);
        return;
      }
      if (share.expires_ns == sluice::admin::kForever) {
        *exit_code = Fail("--fallback-for needs --for (a share without an end never falls back)");
        return;
      }
      share.fallback_until_ns = share.expires_ns + d;
    }
    sluice::StatusOr<sluice::Segment> seg = sluice::Segment::Open(o->ns);
    if (!seg.ok()) {
      *exit_code = Fail(seg.status());
      return;
    }
    if (o->epoch >= 0) {
      share.epoch = static_cast<uint64_t>(o->epoch);
    } else {
      sluice::StatusOr<sluice::admin::FleetFigures> f = sluice::admin::ReadFleet(*seg, o->name);
      if (!f.ok()) {
        *exit_code = Fail(f.status());
        return;
      }
      share.epoch = f->epoch;
    }
    if (sluice::Status s = sluice::admin::PublishShare(*seg, o->name, share); !s.ok()) {
      *exit_code = Fail(s);
      return;
    }
    sluice::StatusOr<sluice::admin::FleetFigures> f = sluice::admin::ReadFleet(*seg, o->name);
    if (f.ok()) {
      std::printf("%s: %s (%s, epoch %llu)\n", o->name.c_str(), f->spec.Describe().c_str(),
                  sluice::admin::ShareStageName(f->stage),
                  static_cast<unsigned long long>(f->epoch));
    }
    *exit_code = kOk;
  });
}

}  // namespace sluicectl
