"""Several worker processes share a partner API's hard budget: at most
5 requests in any 0.8 s, across all of them.

Run:  PYTHONPATH=build/python /usr/bin/python3 examples/partner_api.py
"""
import multiprocessing as mp
import os
import time

import sluice

WORKERS = 4
REQUESTS_PER_WORKER = 5


def worker(n, api, start_ns):
    # `api` arrived pickled (by name) or inherited through fork: either way
    # it is this process's handle on the same shared limiter.
    for i in range(REQUESTS_PER_WORKER):
        api.acquire()  # sleeps (GIL released) until the budget allows one more
        t = (time.monotonic_ns() - start_ns) / 1e9
        print(f"+{t:6.3f} s  worker {n} (pid {os.getpid()}) sends request {i + 1}", flush=True)


def main():
    ns = f"partner-demo-{os.getpid()}"
    seg = sluice.open(ns, create=True)
    try:
        api = seg.define("partner-api", algorithm="sliding", limit=5, window=0.8)
        print(f"{WORKERS} workers x {REQUESTS_PER_WORKER} requests; budget: {api.spec.description}")
        start = time.monotonic_ns()
        procs = [mp.Process(target=worker, args=(n, api, start)) for n in range(WORKERS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        elapsed = (time.monotonic_ns() - start) / 1e9
        st = api.stats
        print(f"{st.granted} requests in {elapsed:.2f} s, never more than 5 in any 0.8 s "
              f"({st.waits} waits, {st.wait_time:.2f} s waited in total)")
    finally:
        sluice.remove(ns)


if __name__ == "__main__":
    main()
