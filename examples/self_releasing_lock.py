"""A lock that frees itself 250 ms after it was taken, with nobody calling
release: a lease limiter with holders=1, ttl=250ms.

Run:  PYTHONPATH=build/python /usr/bin/python3 examples/self_releasing_lock.py
"""
import multiprocessing as mp
import os
import time

import sluice


def forgetful_holder(lock, taken):
    lease = lock.lease()
    print(f"holder (pid {os.getpid()}): took the lock, token {lease.token}; "
          f"exiting without releasing it", flush=True)
    taken.set()
    # No release(), no renew(): the lease lapses 250 ms after it was granted.


def main():
    ns = f"lock-demo-{os.getpid()}"
    seg = sluice.open(ns, create=True)
    try:
        lock = seg.define("migration", algorithm="lease", holders=1, ttl=0.25)
        taken = mp.Event()
        holder = mp.Process(target=forgetful_holder, args=(lock, taken))
        holder.start()
        taken.wait()
        holder.join()
        start = time.monotonic_ns()
        print("main: waiting for the lock...", flush=True)
        with lock.lease(timeout=5.0) as lease:  # blocks until the old lease lapses
            waited_ms = (time.monotonic_ns() - start) / 1e6
            print(f"main: got it after {waited_ms:.0f} ms, token {lease.token} "
                  f"(the holder's lease expired by itself)")
        # Leaving the block released it early: free at once.
        with lock.lease(timeout=0) as again:
            print(f"main: and again at once after releasing, token {again.token}")
    finally:
        sluice.remove(ns)


if __name__ == "__main__":
    main()
