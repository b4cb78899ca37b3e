"""Issue 13's costs for bench/run_all.py: what a limiter costs at its limit.

- `sluice_bench_costs` (Google Benchmark, C API): sliding try_acquire denied
  on a saturated ring against its limit, and lease grant + release against
  holders and the share of them held by others, next to the floor (one
  CLOCK_MONOTONIC read + one CAS on a MAP_SHARED word) of the same run.
- `sluice_bench lease-waiters`: holders 1, ttl 5 ms, W processes that loop a
  blocking AcquireLease and never release; longest and p99 wait against the
  FIFO bound W x ttl.

run(bindir, quick) measures once; summarise(runs) takes medians (ratios to
the floor within each run); plot() draws docs/img/costs.svg; headline() and
section() write the report's rows.
"""
import json
import os
import re
import statistics
import subprocess

WAITERS = (1, 2, 4, 8)
TTL_US = 5000
DENIED = re.compile(r"BM_SlidingDenied/(\d+)$")
PAIR = re.compile(r"BM_LeasePair/holders:(\d+)/permille:(\d+)$")
FULL = re.compile(r"BM_LeaseDenied/(\d+)$")


def run(bindir, quick):
    out = subprocess.run([os.path.join(bindir, "sluice_bench_costs"), "--benchmark_format=json",
                          f"--benchmark_min_time={0.05 if quick else 0.3}"],
                         check=True, capture_output=True, text=True, timeout=900).stdout
    rows = {b["name"]: b["cpu_time"] for b in json.loads(out)["benchmarks"]}
    waiters = []
    for w in WAITERS:
        line = subprocess.run([os.path.join(bindir, "sluice_bench"), "lease-waiters", "--waiters",
                               str(w), "--ttl-us", str(TTL_US), "--seconds", "0.5" if quick else "2"],
                              check=True, capture_output=True, text=True, timeout=120).stdout
        waiters.append(json.loads(line.strip().splitlines()[-1]))
    return {"ns": rows, "waiters": waiters}


def summarise(runs):
    runs = [r for r in runs if r]
    if not runs:
        return None
    s = {"denied": {}, "pair": {}, "full": {}, "waiters": {}}
    s["floor"] = statistics.median(r["ns"]["BM_Floor"] for r in runs)
    for name in runs[0]["ns"]:
        vals = [r["ns"][name] for r in runs if name in r["ns"]]
        ratios = [r["ns"][name] / r["ns"]["BM_Floor"] for r in runs if name in r["ns"]]
        v = {"ns": statistics.median(vals), "ratio": statistics.median(ratios)}
        if m := DENIED.match(name):
            s["denied"][int(m.group(1))] = v
        elif m := PAIR.match(name):
            s["pair"][(int(m.group(1)), int(m.group(2)))] = v
        elif m := FULL.match(name):
            s["full"][int(m.group(1))] = v
    for w in WAITERS:
        rows = [next(x for x in r["waiters"] if x["waiters"] == w) for r in runs]
        s["waiters"][w] = {k: statistics.median(x[k] for x in rows)
                           for k in ("p50_ms", "p99_ms", "max_ms", "fifo_bound_ms", "grants")}
        s["waiters"][w]["max_worst_ms"] = max(x["max_ms"] for x in rows)
    return s


def plot(s, imgdir, gnuplot):
    """docs/img/costs.svg: ns per call against the limiter's size, log-log."""
    dat = os.path.join(imgdir, ".costs.dat")
    with open(dat, "w") as f:
        for limit, v in sorted(s["denied"].items()):
            f.write(f"{limit} {v['ns']:.1f}\n")
        for permille in (0, 500, 999):
            f.write("\n\n")
            for (holders, p), v in sorted(s["pair"].items()):
                if p == permille:
                    f.write(f"{holders} {v['ns']:.1f}\n")
        f.write("\n\n")
        for holders, v in sorted(s["full"].items()):
            f.write(f"{holders} {v['ns']:.1f}\n")
    floor = s["floor"]
    made = gnuplot(f"""
set terminal svg size 1000,440 font "sans,11" background "white" noenhanced
set output "{imgdir}/costs.svg"
set title "Cost at the limit, C API (ns per call, log scale; flat is the goal)"
set xlabel "sliding limit, or lease holders"
set ylabel "ns per call"
set logscale xy
set xrange [0.7:2000000]
set yrange [10:1000]
set grid
set key outside right top vertical
plot "{dat}" index 0 using 1:2 with linespoints lw 2 pt 7 lc rgb "#3b7dd8" title "sliding try_acquire, denied (ring full)", \\
     "{dat}" index 1 using 1:2 with linespoints lw 2 pt 5 lc rgb "#e0823d" title "lease grant + release, 0% held", \\
     "{dat}" index 2 using 1:2 with linespoints lw 2 pt 5 dt 2 lc rgb "#c05a1a" title "... 50% held", \\
     "{dat}" index 3 using 1:2 with linespoints lw 2 pt 4 dt 3 lc rgb "#8a3a0a" title "... 99.9% held", \\
     "{dat}" index 4 using 1:2 with linespoints lw 2 pt 9 lc rgb "#2f9e44" title "lease try denied, all held", \\
     {1.5 * floor:.2f} with lines lw 1 dt 2 lc rgb "#3b7dd8" title "1.5x floor (sliding goal)", \\
     {4 * floor:.2f} with lines lw 1 dt 2 lc rgb "#e0823d" title "4x floor (lease goal)", \\
     {floor:.2f} with lines lw 1 lc rgb "#888888" title "floor: clock + CAS on one word"
""", "costs.svg")
    os.unlink(dat)
    return made


def headline(s, w, yes):
    worst_denied = max(v["ratio"] for v in s["denied"].values())
    worst_pair = max(v["ratio"] for v in s["pair"].values())
    # Met when the longest wait is within W x (ttl + 1 ms): the FIFO bound
    # plus at most 1 ms of wake-up per hand-over.
    fifo_ok = all(v["max_ms"] <= v["fifo_bound_ms"] + k for k, v in s["waiters"].items())
    w(f"| sliding try_acquire denied, limit 10 to 1,000,000 (issue 13) | <= 1.5x floor | "
      f"{worst_denied:.2f}x at worst (`BM_SlidingDenied`) | {yes(worst_denied <= 1.5)} |")
    w(f"| lease grant + release, holders 1 to 65,536, 0 / 50 / 99.9% held (issue 13) | <= 4x floor | "
      f"{worst_pair:.2f}x at worst (`BM_LeasePair`) | {yes(worst_pair <= 4)} |")
    if s["full"]:
        worst = max(v["ratio"] for v in s["full"].values())
        best = min(v["ratio"] for v in s["full"].values())
        w(f"| lease try denied, every holder taken, holders 1 to 65,536 (issue 13) | flat in holders "
          f"(largest within 1.5x of smallest) | {best:.2f}x to {worst:.2f}x the floor "
          f"(`BM_LeaseDenied`) | {yes(worst <= 1.5 * best)} |")
    w(f"| longest lease wait, W waiters, holders 1, ttl 5 ms (issue 13) | FIFO: W x ttl + "
      f"wake-ups (counted met within W x (ttl + 1 ms)) | "
      + ", ".join(f"W={k}: {v['max_ms']:.1f} ms" for k, v in sorted(s["waiters"].items()))
      + f" | {yes(fifo_ok)} |")


def section(s, w, made):
    w("## Costs at the limit (issue 13)")
    w("")
    w("`build/bin/sluice_bench_costs`, through the C API, CPU time per call; the floor is one "
      f"`CLOCK_MONOTONIC` read + one CAS on a `MAP_SHARED` word, in the same run "
      f"({s['floor']:.1f} ns). What these replaced: `docs/benchmark-history.md`.")
    w("")
    if made:
        w("![costs at the limit](img/costs.svg)")
        w("")
    w("Sliding `sluice_try_acquire` denied on a saturated limiter (window 1 h, ring full), "
      "against its limit (`BM_SlidingDenied/L`): a full ring remembers its earliest expiry, and "
      "a denial before it reads that bound, not the ring (docs/design.md).")
    w("")
    w("| limit | ns per call | x floor |")
    w("|---|---|---|")
    for limit, v in sorted(s["denied"].items()):
        w(f"| {limit:,} | {v['ns']:.1f} | {v['ratio']:.2f} |")
    w("")
    w("Lease grant + release (`sluice_lease_acquire(l, 0, ...)` then `sluice_lease_release`) "
      "against holders and the share of them held by others (taken first, then a random subset "
      "released, so the held entries are scattered) (`BM_LeasePair/H/P`): a release points the "
      "next claim at the entry it freed.")
    w("")
    w("| holders | ns per call, 0% / 50% / 99.9% held | x floor |")
    w("|---|---|---|")
    for holders in sorted({h for h, _ in s["pair"]}):
        vs = [s["pair"].get((holders, p)) for p in (0, 500, 999)]
        w(f"| {holders:,} | " + " / ".join(f"{v['ns']:.1f}" if v else "n/a" for v in vs) + " | "
          + " / ".join(f"{v['ratio']:.2f}" if v else "n/a" for v in vs) + " |")
    w("")
    if s["full"]:
        w("A lease try (`sluice_lease_acquire(l, 0, ...)`) denied because every holder is taken "
          "(ttl 1 h, nobody releasing) (`BM_LeaseDenied/H`): a full table remembers when its first "
          "entry lapses, and a try before then reads that one word (lease_table.h invariant 9). "
          "Most of what is left is the C API's error message.")
        w("")
        w("| holders | ns per call | x floor |")
        w("|---|---|---|")
        for holders, v in sorted(s["full"].items()):
            w(f"| {holders:,} | {v['ns']:.1f} | {v['ratio']:.2f} |")
        w("")
    w(f"Lease waiters (`sluice_bench lease-waiters --waiters W --ttl-us {TTL_US}`): holders 1, "
      "W processes that loop a blocking `AcquireLease` and never release; a wait runs from the "
      "call to its grant. Served in arrival order, nobody waits longer than W x ttl plus the "
      "hand-overs' wake-ups (each lease starts when its waiter woke, so their lateness adds up).")
    w("")
    w("| waiters | FIFO bound (W x ttl) | p50 | p99 | longest (median / worst run) | grants |")
    w("|---|---|---|---|---|---|")
    for k, v in sorted(s["waiters"].items()):
        w(f"| {k} | {v['fifo_bound_ms']:.0f} ms | {v['p50_ms']:.1f} ms | {v['p99_ms']:.1f} ms | "
          f"{v['max_ms']:.1f} / {v['max_worst_ms']:.1f} ms | {v['grants']:.0f} |")
    w("")
