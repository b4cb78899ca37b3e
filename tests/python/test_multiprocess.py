"""Many processes sharing one limiter, under multiprocessing fork and spawn.

Each worker logs every grant; the bound is checked offline from the merged
log (leveldb ConcurrentTest style): zero violations allowed.
"""
import multiprocessing as mp
import os
import time

import pytest

import mp_workers
import sluice

MS = 1_000_000


def run_workers(ctx_name, target, args_list, timeout=60):
    ctx = mp.get_context(ctx_name)
    q = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, q)) for args in args_list]
    for p in procs:
        p.start()
    results = [q.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout=timeout)
        assert p.exitcode == 0
    return results


def sliding_violations(times, limit, window_ns):
    """Pairs of grants limit apart that are closer than window (the sliding
    guarantee: at most `limit` grants in any interval of length `window`)."""
    t = sorted(times)
    return [(t[i], t[i + limit]) for i in range(len(t) - limit) if t[i + limit] - t[i] < window_ns]


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_sliding_is_strict_across_processes(seg, start_method):
    limit, window_ns = 5, 100 * MS
    lim = seg.define("shared", algorithm="sliding", limit=limit, window=window_ns / 1e9)
    logs = run_workers(start_method, mp_workers.log_grants, [(lim, 0.8)] * 4)
    grants = [g for log in logs for g in log]
    for before, t, after in grants:
        assert before <= t <= after  # the library's clock is time.monotonic_ns()
    times = [t for _, t, _ in grants]
    assert len(times) >= 2 * limit, "workers got too few grants to check anything"
    assert sum(1 for log in logs if log) >= 2, "only one process ever got a grant"
    assert sliding_violations(times, limit, window_ns) == []


def test_gcra_blocking_acquire_is_strict_across_processes(seg):
    """Blocking acquire, 4 forked processes: every set of grants must fit
    burst + rate*t/period, t being the longest its grants could be apart."""
    rate, burst = 50, 3
    lim = seg.define("shared", algorithm="gcra", rate=rate, period=1.0, burst=burst)
    logs = run_workers("fork", mp_workers.log_blocking_grants, [(lim, 10)] * 4)
    grants = sorted(g for log in logs for g in log)  # (before, after) brackets
    assert len(grants) == 40
    # A grant's true time lies within its bracket. Grants i..j happened within
    # [before_i, max(after_i..j)]: more of them than that span allows is a
    # certain violation.
    violations = 0
    for i in range(len(grants)):
        latest = grants[i][1]
        for j in range(i, len(grants)):
            latest = max(latest, grants[j][1])
            span_s = (latest - grants[i][0]) / 1e9
            if j - i + 1 > burst + rate * span_s + 1e-9:
                violations += 1
    assert violations == 0
    st = lim.stats
    assert st.granted == 40


def test_fork_child_uses_inherited_handle(seg):
    lim = seg.define("x", algorithm="sliding", limit=3, window=60.0)
    assert lim.try_acquire()
    pid = os.fork()
    if pid == 0:  # child: the inherited mapping is shared, not copied
        ok = lim.try_acquire(2) and not lim.try_acquire()
        lim.stats  # reading stats flushes this process's batch (os._exit would drop it)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not lim.try_acquire()
    # Batched counters were flushed before fork: no double counting.
    assert lim.stats.granted == 3


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_workers_reopen_by_name(seg, ns, start_method):
    seg.define("x", algorithm="sliding", limit=2, window=60.0)
    got = run_workers(start_method, mp_workers.reopen_and_take, [(ns, "x")] * 3)
    assert sorted(got) == [False, True, True]


@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
def test_worker_counters_reach_shared_stats(seg, start_method):
    """A worker's last batch of counters is flushed when it exits (through
    os._exit, which skips atexit)."""
    lim = seg.define("x", algorithm="gcra", rate=1000, period=1.0, burst=100)
    got = run_workers(start_method, mp_workers.take_n, [(lim, 3)] * 3)
    assert got == [3, 3, 3]
    assert lim.stats.granted == 9
