#!/usr/bin/env python3
"""Compares two builds of sluice_bench_micro on the same machine, alternating.

    /usr/bin/python3 bench/compare_builds.py BASE_BINARY NEW_BINARY \
        [--filter REGEX] [--rounds N] [--min-time S]

Each round runs the base binary, then the new one, with the same filter
(Google Benchmark JSON output), so that both see the same load; the figure
kept per benchmark and build is the minimum CPU time over all rounds (the
run least disturbed by other work). Prints a Markdown table: ns per call of
each build and each one's ratio to its own BM_Floor (one clock read + one
CAS on a shared mapping), which is what the cost goals are stated against.

Build the base in a worktree, e.g.:
    git worktree add --detach /tmp/base 7f0f257
    cmake -S /tmp/base -B /tmp/base/build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    cmake --build /tmp/base/build --target sluice_bench_micro
"""
import argparse
import collections
import json
import subprocess
import sys


def run(binary, flt, min_time):
    out = subprocess.run([binary, f"--benchmark_filter={flt}", f"--benchmark_min_time={min_time}",
                          "--benchmark_format=json"], capture_output=True, text=True, check=True)
    return {r["name"]: r["cpu_time"] for r in json.loads(out.stdout)["benchmarks"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("--filter", default="BM_(Floor|Gcra|GcraGlobal|GcraDenied|Window|Sliding|"
                                        "LeaseTry|LeasePair|CApiGcra)$")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--min-time", default="0.1")
    a = ap.parse_args()
    best = collections.defaultdict(lambda: float("inf"))
    for _ in range(a.rounds):
        for build, binary in (("base", a.base), ("new", a.new)):
            for name, ns in run(binary, a.filter, a.min_time).items():
                best[(name, build)] = min(best[(name, build)], ns)
    names = sorted({n for n, _ in best}, key=lambda n: (n != "BM_Floor", n))
    floor = {b: best.get(("BM_Floor", b)) for b in ("base", "new")}
    print("| benchmark | base ns | new ns | base / floor | new / floor |")
    print("|---|---|---|---|---|")
    for n in names:
        b, w = best.get((n, "base")), best.get((n, "new"))
        cells = [f"{v:.1f}" if v is not None else "-" for v in (b, w)]
        ratios = [f"{v / floor[k]:.2f}x" if v is not None and floor[k] else "-"
                  for v, k in ((b, "base"), (w, "new"))]
        print(f"| `{n}` | {cells[0]} | {cells[1]} | {ratios[0]} | {ratios[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
