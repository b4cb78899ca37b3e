"""Cost of Limiter.try_acquire() called from Python (issue 4: <= 300 ns median).

Run:  PYTHONPATH=build/python /usr/bin/python3 bench/python_overhead.py
Times batches of calls with time.perf_counter_ns, repeated; prints the median
per call, both raw (loop included) and net of an empty call's cost, and the
fastest batch (the least disturbed by other load on the machine).
"""
import argparse
import os
import statistics
import time

import sluice


def per_call(fn, n, repeats):
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(samples), min(samples)


def per_call_arg(fn, n, repeats):
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn(1)
        samples.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(samples), min(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100_000, help="calls per batch")
    ap.add_argument("--repeats", type=int, default=31, help="batches (the median is reported)")
    args = ap.parse_args()
    ns = f"pybench{os.getpid()}"
    seg = sluice.open(ns, create=True)
    try:
        # Never runs dry during the run: every call is a grant.
        free = seg.define("free", algorithm="gcra", rate=1 << 40, period=1.0, burst=1 << 40)
        # Always empty: every call is a denial.
        dry = seg.define("dry", algorithm="sliding", limit=1, window=3600.0)
        dry.try_acquire()

        def empty():
            pass

        base, _ = per_call(empty, args.calls, args.repeats)
        rows = [
            ("try_acquire() granted", per_call(free.try_acquire, args.calls, args.repeats)),
            ("try_acquire(1) granted", per_call_arg(free.try_acquire, args.calls, args.repeats)),
            ("try_acquire() denied", per_call(dry.try_acquire, args.calls, args.repeats)),
            ("now_ns() (clock only)", per_call(sluice.now_ns, args.calls, args.repeats)),
        ]
        print(f"median of {args.repeats} x {args.calls} calls; empty-call baseline {base:.0f} ns")
        for name, (t, fastest) in rows:
            print(f"{name:26s} median {t:5.0f} ns/call ({t - base:4.0f} net of baseline), "
                  f"fastest batch {fastest:5.0f}")
    finally:
        sluice.remove(ns)


if __name__ == "__main__":
    main()
