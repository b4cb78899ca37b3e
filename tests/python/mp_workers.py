"""Worker functions for the multiprocessing tests (importable by "spawn"
children, unlike functions defined inside test modules run by pytest)."""
import time

import sluice


def log_grants(lim, duration_s, queue):
    """Takes permits with try_acquire_ex until `duration_s` passes, sleeping
    as long as each denial says; reports (before, decision_time, after) of
    every grant, all CLOCK_MONOTONIC ns."""
    grants = []
    end = time.monotonic_ns() + int(duration_s * 1e9)
    while time.monotonic_ns() < end:
        before = time.monotonic_ns()
        d = lim.try_acquire_ex()
        after = time.monotonic_ns()
        if d.granted:
            grants.append((before, d.time_ns, after))
        else:
            time.sleep(min(d.retry_after, 0.01))
    queue.put(grants)


def log_blocking_grants(lim, count, queue):
    """Takes `count` permits with blocking acquire; reports (before, after)."""
    grants = []
    for _ in range(count):
        before = time.monotonic_ns()
        lim.acquire(timeout=30)
        grants.append((before, time.monotonic_ns()))
    queue.put(grants)


def reopen_and_take(namespace, name, queue):
    """Opens the namespace anew (as an unrelated process would) and takes one permit."""
    lim = sluice.open(namespace).limiter(name)
    queue.put(lim.try_acquire())


def take_n(lim, n, queue):
    """Takes n permits with try_acquire (fewer than a stats batch) and exits."""
    queue.put(sum(1 for _ in range(n) if lim.try_acquire()))
