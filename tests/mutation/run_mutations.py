#!/usr/bin/python3
"""Mutation runs of the real library: each mutation breaks one guarantee in a
copy of the source tree, and the stress test named for it must fail.

For every mutation: restore the pristine copy of the file, apply one exact
text patch (the anchor must occur exactly once, else the script stops: the
library changed and the mutation must be updated), rebuild only the test
binary it needs (incremental: the copy is configured once), run it with a
gtest filter, and expect a non-zero exit. A mutation that survives is run
again (up to --tries times) before it counts as survived.

    tests/mutation/run_mutations.py                 # all mutations
    tests/mutation/run_mutations.py --cheap         # one per algorithm + live change
    tests/mutation/run_mutations.py --only gcra-cas-store --keep
    tests/mutation/run_mutations.py --list

Exit status: 0 when every mutation was caught, 1 when one survived, 2 on a
setup error (anchor not found, build failure, unknown mutation).
No test-only switch exists in the library for this: the patches are applied
to a copy of lib/ and never to the working tree.
"""
import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclasses.dataclass
class Mutation:
    name: str
    path: str          # relative to the source root
    anchor: str        # exact text, must occur exactly once
    replacement: str
    target: str        # test binary (CMake target in build/bin)
    filter: str        # gtest filter
    what: str          # what the mutation breaks
    cheap: bool = False


H = "Algorithms/HammerTest.GuaranteeHoldsUnderSaturation/"
L = "Algorithms/LiveChangeTest.GuaranteeHoldsWhileParametersFlap/"

MUTATIONS = [
    Mutation(
        "gcra-cas-store", "lib/src/gcra.h",
        "    if (tat.compare_exchange_weak(cur, next, std::memory_order_acquire,\n"
        "                                  std::memory_order_acquire)) {\n"
        "      return {true, now, 0};\n"
        "    }\n",
        "    tat.store(next, std::memory_order_relaxed);  // MUTATION: no CAS\n"
        "    return {true, now, 0};\n",
        "hammer_test", H + "gcra_processes",
        "gcra TryAcquire publishes with a plain store instead of the CAS (lost update)",
        cheap=True),
    Mutation(
        "gcra-refund-store", "lib/src/gcra.cc",
        "  return tat.compare_exchange_strong(expected, r.prev_tat, std::memory_order_relaxed,\n"
        "                                     std::memory_order_relaxed);\n",
        "  tat.store(r.prev_tat, std::memory_order_relaxed);  // MUTATION: unconditional refund\n"
        "  return expected == r.new_tat;\n",
        "hammer_test", H + "gcra_blocking_processes",
        "a cancelled gcra reservation is refunded even when others reserved after it"),
    Mutation(
        "acquire-no-sleep", "lib/src/acquire.cc",
        "    if (grant_ns <= now) return Status::OK();  // decided now, like TryAcquire\n",
        "    return Status::OK();  // MUTATION: returns before a future-dated turn\n",
        "hammer_test", H + "gcra_blocking_processes",
        "blocking Acquire returns at once instead of sleeping to its reserved turn"),
    Mutation(
        "window-limit-plus-one", "lib/src/window.h",
        "    if (count + n > p.limit) {\n",
        "    if (count + n > p.limit + 1) {  // MUTATION: off by one\n",
        "hammer_test", H + "window_processes",
        "window admits limit + 1 per window", cheap=True),
    Mutation(
        "sliding-expires-early", "lib/src/sliding.cc",
        "{ return v != kSealed && v <= now - window; }\n",
        "{ return v != kSealed && v <= now - window + window / 20; }  // MUTATION: 5% early\n",
        "hammer_test", H + "sliding_processes",
        "a sliding ring word frees 5% of a window early", cheap=True),
    Mutation(
        "sliding-reserve-now", "lib/src/sliding.cc",
        "    const int64_t grant = std::max(now, FreesAt(latest, r.window_ns));\n",
        "    const int64_t grant = std::max(now, FreesAt(latest, r.window_ns) - r.window_ns / 20);"
        "  // MUTATION\n",
        "hammer_test", H + "sliding_blocking_processes",
        "a sliding reservation is dated 5% of a window before its words free"),
    Mutation(
        "lease-takeable-ignores-expiry", "lib/src/lease_table.cc",
        "  if (e <= now) return true;  // lapsed\n",
        "  if (e > 0) return true;  // MUTATION: a held entry is takeable (ignores the expiry)\n",
        "hammer_test", H + "lease_tokens_h1_processes",
        "a held lease entry is takeable before it lapses", cheap=True),
    Mutation(
        "lease-token-not-unique", "lib/src/lease_table.cc",
        "  *token = t.token->fetch_add(1, std::memory_order_seq_cst) + 1;\n",
        "  *token = t.token->load() + 1;  // MUTATION: no fetch_add\n"
        "  t.token->store(*token);\n",
        "hammer_test", "Modes/FencingTest.TokensAreUniqueAtFullRate/processes",
        "fencing tokens taken by load + store (duplicates)"),
    Mutation(
        "lease-release-skips-wake", "lib/src/lease_table.cc",
        "  if (t.sleepers != nullptr && t.sleepers->load(std::memory_order_seq_cst) > 0) {\n",
        "  if (t.sleepers != nullptr && t.sleepers->load() > 1) {  // MUTATION: one sleeper\n",
        "lease_queue_test", "LeaseQueueTest.ReleasesNeverMissAWaiterGoingToSleep",
        "a lease release wakes nobody when one waiter sleeps (a lost wake-up)"),
    Mutation(
        "lease-token-reload-skipped", "lib/src/lease_table.cc",
        "  if (h.expiry.load(std::memory_order_seq_cst) != next) return false;\n",
        "  // MUTATION: no re-load of the claimed entry after the token\n",
        "hammer_test", "Modes/FencingTest.LaterGrantsOfOneEntryGetLargerTokens/processes",
        "a claim preempted past its lease keeps a token smaller than the next holder's"),
    Mutation(
        "lease-release-keeps-bound", "lib/src/lease_table.cc",
        "  ForgetBound(t);\n  WakeSleepers(t);\n  return true;\n",
        "  WakeSleepers(t);  // MUTATION: a release keeps the full table's bound\n  return true;\n",
        "lease_queue_test", "LeaseQueueTest.ReleasesNeverMissAWaiterGoingToSleep",
        "a released entry stays hidden behind the bound a full table learnt"),
    Mutation(
        "lease-bound-unverified", "lib/src/lease_table.cc",
        "    keep = e >= soonest && e != kSealed;\n",
        "    keep = e != kSealed;  // MUTATION: the second read trusts the first\n",
        "lease_table_test", "LeaseTableTest.ABoundLearntAcrossAReleaseIsTakenBack",
        "a full table's bound is kept although an entry was released during the scan"),
    Mutation(
        "lease-reclaim-live-holder", "lib/src/lease_table.cc",
        "  return !platform::ProcessMayBeAlive(static_cast<uint32_t>(o >> 32));\n",
        "  return true;  // MUTATION: reclaims live holders too\n",
        "kill_test", "KillTest.RandomSigkillsKeepLivenessAndGuarantees",
        "reclaim=true takes leases of holders that are alive"),
    Mutation(
        "live-sliding-drops-carry", "lib/src/slot_table.cc",
        "    plan->carry.count = static_cast<uint32_t>(std::min<uint64_t>(left, kMaxSlidingLimit));\n",
        "  // MUTATION: a shrink forgets the grants it drops (no carry)\n",
        "live_change_test", L + "sliding",
        "ResizeSliding drops the carried grants (shrink-then-grow over-grants)", cheap=True),
    Mutation(
        "live-lease-drops-gate", "lib/src/slot_table.cc",
        "  if (carry.count == 0) carry.until_ns = INT64_MIN;\n",
        "  carry = Carry{};  // MUTATION: a shrink forgets the leases it drops (no gate)\n",
        "live_change_test", L + "lease",
        "ResizeLease drops the gate of leases held in dropped entries"),
    Mutation(
        "live-gcra-no-convert", "lib/src/slot_table.cc",
        "      gcra::ConvertState(next_state, cur.gcra, new_gcra, at);  // always moves the word\n",
        "      next_state.fetch_add(1);  // MUTATION: the debt stays in nanoseconds (forgives permits)\n",
        "live_change_test", L + "gcra",
        "a gcra rate change skips ConvertState (the debt stays in nanoseconds: forgiven)"),
    Mutation(
        "sliding-drained-at-once", "lib/src/slot_table.cc",
        "      return std::max(prev, next_carry.count > 0 ? next_carry.until_ns + next.window_ns : now);\n",
        "      return std::max(prev, now);  // MUTATION: a cut is drained at once, however full the window\n",
        "live_change_test", L + "sliding_shares*",
        "a sliding shrink reports itself drained while the window still holds more than the new amount",
        cheap=True),
    Mutation(
        "share-never-lapses", "lib/src/limiter.cc",
        "  if (!p.declared.global || now < p.share.stage_end_ns || !p.writable) return false;\n",
        "  return false;  // MUTATION: a share that ended is never lapsed (decided as if it held)\n",
        "live_change_test", L + "*_shares",
        "decisions past a global limiter's share end keep its amount (no fallback, no 0)",
        cheap=True),
    Mutation(
        "leader-ignores-its-lease", "fleet/allotter/leadership.cc",
        "  if (allotter_ && now_ns < valid_until_) return allotter_->Refresh(in, now_ns);\n",
        "  if (allotter_) return allotter_->Refresh(in, now_ns);  // MUTATION: past its lease\n",
        "fleet_failover_test", "FleetFailover.*",
        "an allotter cut off from etcd keeps dividing after its election lease may have lapsed "
        "(two leaders divide)"),
]

def log(msg):
    print(msg, flush=True)


def patch(src_root, pristine_root, path, anchor, replacement):
    """Applies one exact patch to src_root/path (a pristine copy of the file)."""
    with open(os.path.join(src_root, path)) as f:
        text = f.read()
    n = text.count(anchor)
    if n != 1:
        raise SystemExit(f"run_mutations: anchor found {n} times (want 1) in {path}:\n{anchor}"
                         "lib/ changed: update the mutation in tests/mutation/run_mutations.py")
    with open(os.path.join(src_root, path), "w") as f:
        f.write(text.replace(anchor, replacement))


def restore(src_root, pristine_root, path):
    """Puts the pristine text back with a NEW mtime: the objects built from
    the mutant are newer than the pristine file's own mtime, and an old
    mtime would let make keep them."""
    dst = os.path.join(src_root, path)
    shutil.copyfile(os.path.join(pristine_root, path), dst)
    os.utime(dst)


def sync(root, dst):
    """Makes dst a copy of the source tree; files whose text is unchanged keep
    their mtime (an incremental rebuild), changed ones get a new one."""
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        dirnames[:] = [d for d in dirnames
                       if not (d == ".git" or d.startswith("build") or d == "__pycache__")]
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for name in filenames:
            if name.endswith(".pyc"):
                continue
            a, b = os.path.join(dirpath, name), os.path.join(dst, rel, name)
            if os.path.islink(a):
                continue
            with open(a, "rb") as f:
                new = f.read()
            try:
                with open(b, "rb") as f:
                    if f.read() == new:
                        continue
            except FileNotFoundError:
                pass
            with open(b, "wb") as f:
                f.write(new)
            shutil.copymode(a, b)


def run(cmd, cwd=None, env=None, timeout=None):
    return subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True)


def build(build_dir, target, jobs):
    r = run(["cmake", "--build", build_dir, "-j", str(jobs), "--target", target])
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:] + r.stderr[-4000:])
    return r.returncode == 0


def summarise(out):
    """What the first failed assertion checked and the value it saw (for a
    violation count: how many violations), and the failure text."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if ": Failure" not in line:
            continue
        text = [x.strip() for x in lines[i + 1:i + 6] if x.strip()]
        seen = ""
        for j, x in enumerate(text):
            m = re.match(r"Which is: (\d+)", x)
            if m and j > 0:
                seen = f"{text[j - 1]} = {m.group(1)}"
                break
            m = re.search(r"actual: (\S+) vs", x)
            if m:
                seen = x
                break
        return seen or text[0][:80], " / ".join(text[:3])[:240]
    return "", ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", action="append", help="run this mutation (repeatable)")
    ap.add_argument("--cheap", action="store_true", help="one mutation per algorithm + live change")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--work", help="work directory (default: a new temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--tries", type=int, default=3, help="runs before a mutation counts as survived")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per test run")
    ap.add_argument("--markdown", help="append the results table to this file")
    args = ap.parse_args()

    chosen = MUTATIONS
    if args.cheap:
        chosen = [m for m in MUTATIONS if m.cheap]
    if args.only:
        names = {m.name for m in MUTATIONS}
        unknown = [o for o in args.only if o not in names]
        if unknown:
            log(f"run_mutations: unknown mutation(s) {unknown}; --list shows them")
            return 2
        chosen = [m for m in MUTATIONS if m.name in args.only]
    if args.list:
        for m in chosen:
            log(f"{m.name:30} {m.path:24} {m.target}:{m.filter}\n{'':30} {m.what}")
        return 0

    work = args.work or tempfile.mkdtemp(prefix="sluice-mutants-")
    src, pristine, bld = (os.path.join(work, d) for d in ("src", "pristine", "build"))
    # A reused work directory is brought up to date with the source tree.
    sync(ROOT, pristine)
    sync(ROOT, src)
    # Every anchor is checked before anything is built: a changed lib/ fails fast.
    for m in chosen:
        with open(os.path.join(pristine, m.path)) as f:
            text = f.read()
        if text.count(m.anchor) != 1:
            log(f"run_mutations: {m.name}: anchor found {text.count(m.anchor)} times (want 1) in "
                f"{m.path}:\n{m.anchor}lib/ changed: update tests/mutation/run_mutations.py")
            return 2
    t0 = time.monotonic()
    r = run(["cmake", "-S", src, "-B", bld, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
             "-DSLUICE_BUILD_PYTHON=OFF", "-DSLUICE_BUILD_BENCHMARKS=OFF",
             "-DSLUICE_BUILD_TOOLS=OFF"])
    if r.returncode != 0:
        log(r.stdout[-3000:] + r.stderr[-3000:])
        return 2
    for target in sorted({m.target for m in chosen}):
        if not build(bld, target, args.jobs):
            log(f"run_mutations: the unmutated {target} does not build")
            return 2
    log(f"run_mutations: {work}: configured and built in {time.monotonic() - t0:.0f} s")

    results = []
    status = 0
    for m in chosen:
        t1 = time.monotonic()
        try:
            patch(src, pristine, m.path, m.anchor, m.replacement)
            if not build(bld, m.target, args.jobs):
                log(f"run_mutations: {m.name}: the mutant does not build")
                return 2
            built_s = time.monotonic() - t1
            caught, tries, most, first = False, 0, "", ""
            for tries in range(1, args.tries + 1):
                try:
                    r = run([os.path.join(bld, "bin", m.target), f"--gtest_filter={m.filter}"],
                            timeout=args.timeout)
                    out, rc = r.stdout + r.stderr, r.returncode
                except subprocess.TimeoutExpired as e:
                    out, rc = str(e.stdout or "") + " (timed out)", 124
                most, first = summarise(out)
                if "[==========] 0 tests from 0 test suites ran" in out:
                    log(f"run_mutations: {m.name}: the filter {m.filter} matches no test")
                    return 2
                if rc != 0:
                    caught = True
                    break
        finally:
            restore(src, pristine, m.path)
        if not caught:
            status = 1
        res = dict(name=m.name, what=m.what, test=f"{m.target} {m.filter.replace(H, '').replace(L, 'live ')}",
                   caught=caught, tries=tries, violations=most, first=first,
                   seconds=time.monotonic() - t1, build_s=built_s)
        results.append(res)
        log(f"[mutation] {m.name}: {'CAUGHT' if caught else 'SURVIVED'} by {res['test']} "
            f"(run {tries}, first failed check: {most or '-'}, build {built_s:.0f} s, "
            f"total {res['seconds']:.0f} s){': ' + first if first else ''}")
    # Leave the built copy unmutated, so a rerun can start from it.
    for target in sorted({m.target for m in chosen}):
        build(bld, target, args.jobs)
    table = ["| mutation | what it breaks | test | caught | first failed check | runs |",
             "|---|---|---|---|---|---|"]
    for r in results:
        table.append(f"| `{r['name']}` | {r['what']} | `{r['test']}` | "
                     f"{'yes' if r['caught'] else '**no**'} | `{r['violations']}` | {r['tries']} |")
    log("\n".join(table))
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write("\n".join(table) + "\n")
    log(f"run_mutations: {sum(r['caught'] for r in results)} of {len(results)} caught in "
        f"{time.monotonic() - t0:.0f} s")
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
