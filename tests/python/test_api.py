"""API behaviour, argument checks and error messages of the sluice module."""
import datetime
import pickle
import time

import pytest

import sluice


def test_open_missing_namespace_is_not_found(ns):
    with pytest.raises(sluice.NotFound) as e:
        sluice.open(ns)
    assert isinstance(e.value, KeyError) and isinstance(e.value, sluice.Error)
    assert e.value.code == "NotFound"
    assert "does not exist" in str(e.value)


def test_open_bad_namespace_name():
    with pytest.raises(sluice.InvalidArgument, match="namespace name"):
        sluice.open("bad name", create=True)


def test_segment_properties(seg, ns):
    assert seg.namespace == ns
    assert seg.path == f"/dev/shm/sluice.{ns}"
    assert not seg.read_only
    info = seg.info()
    assert info["namespace"] == ns and info["capacity"] == 256
    assert repr(seg) == f"<sluice.Segment {ns!r}>"


def test_define_find_list(seg):
    a = seg.define("a", algorithm="sliding", limit=5, window=0.8)
    b = seg.define("b", algorithm="gcra", rate=100, period=1.0, burst=10)
    assert a.name == "a" and b.name == "b"
    assert [lim.name for lim in seg.limiters()] == ["a", "b"]
    assert seg.limiter("a").spec == a.spec
    assert seg["b"].name == "b"
    assert "a" in seg and "zzz" not in seg
    # The same parameters again: the same limiter, state kept.
    assert a.try_acquire(5)
    again = seg.define("a", algorithm="sliding", limit=5, window=0.8)
    assert not again.try_acquire()


def test_limiter_missing_is_key_error(seg, ns):
    with pytest.raises(KeyError) as e:
        seg.limiter("missing")
    assert isinstance(e.value, sluice.NotFound)
    assert str(e.value) == f"no limiter 'missing' in namespace '{ns}'"


def test_spec_fields(seg):
    g = seg.define("g", algorithm="gcra", rate=100, period=1.0, burst=10).spec
    assert (g.algorithm, g.rate, g.period, g.burst, g.limit) == ("gcra", 100, 1.0, 10, None)
    assert g.description == "gcra rate=100 period=1s burst=10"
    s = seg.define("s", algorithm="sliding", limit=5, window=0.8).spec
    assert (s.limit, s.window, s.rate) == (5, 0.8, None)
    w = seg.define("w", algorithm="window", limit=7, window="250us").spec
    assert (w.algorithm, w.limit, w.window) == ("window", 7, 0.00025)
    le = seg.define("l", algorithm="lease", holders=2, ttl=datetime.timedelta(milliseconds=250),
                    reclaim=True).spec
    assert (le.holders, le.ttl, le.reclaim) == (2, 0.25, True)
    assert seg.limiter("l").algorithm == "lease"
    assert 'ttl = "250ms"' in le.toml


def test_gcra_defaults(seg):
    spec = seg.define("g", algorithm="gcra", rate=3).spec
    assert (spec.period, spec.burst) == (1.0, 1)


def test_live_update_keeps_state(seg):
    lim = seg.define("x", algorithm="sliding", limit=2, window=60.0)
    assert lim.try_acquire(2)
    seg.define("x", algorithm="sliding", limit=3, window=60.0)
    assert lim.spec.limit == 3
    assert lim.try_acquire()
    assert not lim.try_acquire()


def test_other_algorithm_is_exists_error(seg):
    seg.define("x", algorithm="sliding", limit=2, window=1.0)
    with pytest.raises(sluice.Error) as e:
        seg.define("x", algorithm="gcra", rate=1)
    assert e.value.code == "Exists"
    assert "algorithm cannot change" in str(e.value)


# The budget file's messages (lib/src/spec_toml.cc, limiter_spec.cc), minus
# the FILE:LINE:COL position, which means nothing for keyword arguments.
@pytest.mark.parametrize("kwargs, message", [
    (dict(algorithm="sliding", limit=0, window=0.8), "limit must be between 1 and 1048576 (got 0)"),
    (dict(algorithm="sliding", limit=5), "missing key 'window' for algorithm \"sliding\""),
    (dict(algorithm="sliding", limit=5.5, window=1.0), "limit must be an integer"),
    (dict(algorithm="sliding", limit=-1, window=1.0), "limit must not be negative (got -1)"),
    (dict(algorithm="sliding", rate=3, limit=5, window=1.0),
     "key 'rate' does not apply to algorithm \"sliding\""),
    (dict(algorithm="sliding", limit=5, window=0), "window must be between 1us and 366 days (got 0ns)"),
    (dict(algorithm="gcra", rate=0), "rate must be between 1 and 1099511627776 (got 0)"),
    (dict(algorithm="lease", holders=1), "missing key 'ttl' for algorithm \"lease\""),
    (dict(algorithm="lease", holders=1, ttl="250"),
     "ttl: duration '250' has no unit: write e.g. \"250ms\" (units: ns, us, ms, s, m, h)"),
    (dict(algorithm="bogus"), "algorithm must be one of \"gcra\", \"window\", \"sliding\", \"lease\""),
    (dict(algorithm="lease", holders=1, ttl=1.0, reclaim=1), "reclaim must be true or false"),
])
def test_define_errors_match_budget_files(seg, kwargs, message):
    with pytest.raises(sluice.InvalidArgument) as e:
        seg.define("x", **kwargs)
    assert str(e.value) == message
    assert isinstance(e.value, ValueError) and e.value.code == "InvalidArgument"


@pytest.mark.parametrize("window, message", [
    (1e-12, "window must be a whole number of nanoseconds (got 1e-12 s)"),
    (-0.5, "window must not be negative (got -0.5)"),
    (float("nan"), "window must be a finite number of seconds (got nan)"),
    (float("inf"), "window must be a finite number of seconds (got inf)"),
    (True, "window must be a number of seconds (got bool True)"),
    ([1], "window must be a number of seconds (got list [1])"),
])
def test_define_rejects_bad_float_durations(seg, window, message):
    with pytest.raises(sluice.InvalidArgument) as e:
        seg.define("x", algorithm="sliding", limit=1, window=window)
    assert str(e.value) == message


def test_float_seconds_are_exact(seg):
    assert seg.define("a", algorithm="sliding", limit=1, window=0.8).spec.description == \
        "sliding limit=1 window=800ms"
    assert seg.define("b", algorithm="sliding", limit=1, window=1.5e-6).spec.description == \
        "sliding limit=1 window=1500ns"


def test_bad_limiter_name(seg):
    with pytest.raises(sluice.InvalidArgument) as e:
        seg.define("bad name", algorithm="gcra", rate=1)
    assert str(e.value) == "limiter name 'bad name' may only hold letters, digits, '_', '-' and '.'"


def test_try_acquire(seg):
    lim = seg.define("x", algorithm="sliding", limit=3, window=60.0)
    assert lim.try_acquire() is True
    assert lim.try_acquire(2) is True
    assert lim.try_acquire(permits=1) is False
    assert lim.try_acquire(4) is False  # above capacity: just False
    with pytest.raises(sluice.InvalidArgument, match="permits"):
        lim.try_acquire(0)
    with pytest.raises(sluice.InvalidArgument, match="permits"):
        lim.try_acquire(-1)
    with pytest.raises(TypeError):
        lim.try_acquire("1")
    with pytest.raises(TypeError):
        lim.try_acquire(1, 2)
    with pytest.raises(TypeError):
        lim.try_acquire(count=1)


def test_try_acquire_ex(seg):
    lim = seg.define("x", algorithm="sliding", limit=1, window=10.0)
    before = time.monotonic_ns()
    d = lim.try_acquire_ex()
    after = time.monotonic_ns()
    assert d.granted and d.retry_after == 0
    assert before <= d.time_ns <= after  # the library's clock is time.monotonic_ns()'s
    d = lim.try_acquire_ex()
    assert not d.granted and 9.0 < d.retry_after <= 10.0
    with pytest.raises(sluice.InvalidArgument) as e:
        lim.try_acquire_ex(2)
    assert str(e.value) == "2 permits can never be granted by sliding limit=1 window=10s (capacity 1)"


def test_acquire_blocks_until_its_turn(seg):
    lim = seg.define("x", algorithm="gcra", rate=10, period=1.0, burst=1)
    lim.acquire()
    t0 = time.monotonic()
    lim.acquire()  # the next turn is 100 ms later
    elapsed = time.monotonic() - t0
    assert 0.08 <= elapsed < 1.0
    assert lim.stats.waits >= 1


def test_acquire_timeout(seg):
    lim = seg.define("x", algorithm="sliding", limit=1, window=60.0)
    lim.acquire(timeout=0)
    t0 = time.monotonic()
    with pytest.raises(sluice.Timeout) as e:
        lim.acquire(timeout=0.5)  # the turn is 60 s away: refused at once
    assert time.monotonic() - t0 < 0.4
    assert isinstance(e.value, TimeoutError) and e.value.code == "Timeout"
    with pytest.raises(TimeoutError):
        lim.acquire(timeout=datetime.timedelta(milliseconds=1))


def test_acquire_argument_errors(seg):
    lim = seg.define("x", algorithm="sliding", limit=2, window=1.0)
    with pytest.raises(sluice.InvalidArgument) as e:
        lim.acquire(3)
    assert str(e.value) == "3 permits can never be granted by sliding limit=2 window=1s (capacity 2)"
    with pytest.raises(sluice.InvalidArgument, match="timeout must not be negative"):
        lim.acquire(timeout=-1)
    with pytest.raises(sluice.InvalidArgument, match="permits must be >= 1"):
        lim.acquire(0)


def test_with_limiter(seg):
    lim = seg.define("x", algorithm="sliding", limit=2, window=60.0)
    with lim as got:
        assert got is lim
    with lim:
        pass
    assert not lim.try_acquire()


def test_decorator(seg):
    lim = seg.define("x", algorithm="sliding", limit=3, window=60.0)
    calls = []

    @lim.limit
    def work(x):
        """Does work."""
        calls.append(x)
        return x * 2

    assert work(1) == 2 and work(2) == 4
    assert work.__name__ == "work" and work.__doc__ == "Does work."

    @lim.limit(timeout=0.01)
    def more():
        calls.append("more")

    more()
    with pytest.raises(sluice.Timeout):
        more()
    assert calls == [1, 2, "more"]


def test_stats_and_level(seg):
    lim = seg.define("x", algorithm="sliding", limit=3, window=60.0)
    for _ in range(5):
        lim.try_acquire()
    st = lim.stats
    assert (st.granted, st.denied, st.asked, st.waiting) == (3, 2, 5, 0)
    lv = lim.level
    assert (lv.used, lv.capacity) == (3, 3) and 59.0 < lv.next_free <= 60.0
    # Another handle in this process sees the same shared counters.
    assert seg.limiter("x").stats.granted == 3


def test_read_only_segment(seg, ns):
    seg.define("x", algorithm="sliding", limit=3, window=60.0)
    ro = sluice.open(ns, read_only=True)
    assert ro.read_only
    lim = ro.limiter("x")
    assert lim.try_acquire() is False
    with pytest.raises(sluice.Error) as e:
        lim.acquire()
    assert e.value.code == "Permission"
    with pytest.raises(sluice.Error):
        ro.define("y", algorithm="gcra", rate=1)


def test_retire(seg):
    lim = seg.define("x", algorithm="sliding", limit=3, window=60.0)
    seg.retire("x")
    assert "x" not in seg
    assert lim.try_acquire()  # handles keep working


def test_pickle_reattaches_by_name(seg):
    lim = seg.define("x", algorithm="sliding", limit=3, window=60.0)
    copy = pickle.loads(pickle.dumps(lim))
    assert copy.name == "x" and copy.namespace == seg.namespace
    assert copy.try_acquire(3) and not lim.try_acquire()
    assert pickle.loads(pickle.dumps(seg)).namespace == seg.namespace
    e = pickle.loads(pickle.dumps(sluice.Timeout("slow", "Timeout")))
    assert isinstance(e, sluice.Timeout) and e.code == "Timeout"


def test_remove(ns):
    sluice.open(ns, create=True)
    sluice.remove(ns)
    with pytest.raises(sluice.NotFound):
        sluice.remove(ns)


def test_default_namespace(monkeypatch):
    monkeypatch.setenv("SLUICE_NAMESPACE", "somewhere")
    assert sluice.default_namespace() == "somewhere"


def test_now_ns_is_monotonic_ns():
    a = time.monotonic_ns()
    b = sluice.now_ns()
    c = time.monotonic_ns()
    assert a <= b <= c


def test_help_reads_well():
    import pydoc
    text = pydoc.render_doc(sluice, renderer=pydoc.plaintext)
    for word in ("acquire_async", "try_acquire", "Timeout", "lease", "Segment"):
        assert word in text
    assert "_try_acquire_ex" not in text
    assert sluice.Limiter.try_acquire.__doc__.startswith("Takes `permits` now")


def test_create_mode(ns):
    import os
    import stat
    seg = sluice.open(ns, create=True, mode="0640")
    assert stat.S_IMODE(os.stat(seg.path).st_mode) == 0o640


def test_world_writable_mode_needs_opt_in(ns):
    import os
    import stat
    with pytest.raises(sluice.InvalidArgument, match="world-writable"):
        sluice.open(ns, create=True, mode=0o666)
    assert not os.path.exists(f"/dev/shm/sluice.{ns}")
    seg = sluice.open(ns, create=True, mode=0o666, allow_world_writable=True)
    assert stat.S_IMODE(os.stat(seg.path).st_mode) == 0o666


# --- issue 8: hostile input never crashes, overflows or passes unnoticed ---

@pytest.mark.parametrize("algorithm,params", [
    ("gcra", dict(rate=10, burst=3)),
    ("window", dict(limit=3, window=1.0)),
    ("sliding", dict(limit=3, window=1.0)),
    ("lease", dict(holders=3, ttl=1.0)),
])
def test_acquire_above_capacity_is_invalid_at_once(seg, algorithm, params):
    lim = seg.define("x", algorithm=algorithm, **params)
    for n in (4, 100_000_000, 1 << 30, 4294967295):
        for timeout in (None, 1.0, 0):
            with pytest.raises(sluice.InvalidArgument, match="can never be granted"):
                lim.acquire(n, timeout=timeout)  # was MemoryError for sliding
        with pytest.raises(sluice.InvalidArgument, match="can never be granted"):
            lim.try_acquire_ex(n)
        assert lim.try_acquire(n) is False
    lim.acquire(3, timeout=1.0)


def test_try_acquire_ex_says_read_only_not_never(seg, ns):
    seg.define("x", algorithm="sliding", limit=1, window=60.0)
    lim = sluice.open(ns, read_only=True).limiter("x")
    with pytest.raises(sluice.Error) as e:
        lim.try_acquire_ex(1)
    assert e.value.code == "Permission" and "read-only" in str(e.value)


@pytest.mark.parametrize("window", ["18446744074509551616ns", "18446744073709551617s",
                                    "184467440737095516161s", "9223372036854775808ns"])
def test_overflowing_duration_strings_are_rejected(seg, window):
    with pytest.raises(sluice.InvalidArgument, match="too large"):
        seg.define("x", algorithm="sliding", limit=5, window=window)


@pytest.mark.parametrize("timeout", [1e300, 1e10, float("inf"), 10**30,
                                     datetime.timedelta(days=999999999)])
def test_huge_timeouts_wait_forever(seg, timeout):
    lim = seg.define("x", algorithm="sliding", limit=1, window=0.03)
    lim.acquire(timeout=timeout)
    lim.acquire(timeout=timeout)  # waits ~30 ms for the first to expire: no OverflowError


@pytest.mark.parametrize("timeout,message", [(float("nan"), "NaN"), (-1e300, "negative"),
                                             (-0.001, "negative"), (float("-inf"), "negative")])
def test_bad_timeouts_are_value_errors(seg, timeout, message):
    lim = seg.define("x", algorithm="sliding", limit=1, window=1.0)
    with pytest.raises(ValueError, match=message):
        lim.acquire(timeout=timeout)


def test_huge_timeout_async(seg):
    import asyncio
    lim = seg.define("x", algorithm="sliding", limit=1, window=0.03)

    async def main():
        await lim.acquire_async(timeout=1e300)
        await lim.acquire_async(timeout=1e300)  # a deadline in the past would raise Timeout
    asyncio.run(main())


@pytest.mark.parametrize("name", ["a\0b", "a\nb", "\x1b[31mred"])
def test_control_bytes_in_names_are_rejected_legibly(seg, name):
    with pytest.raises(sluice.InvalidArgument) as e:
        seg.define(name, algorithm="gcra", rate=1)
    assert "\0" not in str(e.value) and "\x1b" not in str(e.value)
    assert "control characters" in str(e.value)
    with pytest.raises(sluice.NotFound) as e:
        seg.limiter(name)
    assert "\0" not in str(e.value)


def test_nul_in_a_duration_string_is_shown_escaped(seg):
    with pytest.raises(sluice.InvalidArgument) as e:
        seg.define("x", algorithm="sliding", limit=5, window="8\0ms")
    assert "8\\x00ms" in str(e.value)


def test_fast_path_layout():
    # try_acquire reads pybind11's instance record directly (sluice_module.cc,
    # FastValue). If a pybind11 upgrade changes that layout, this fails
    # loudly; the module itself then falls back to the slower general cast.
    from sluice import _sluice
    assert _sluice._fast_layout_enabled(), "pybind11 instance layout changed: fast path off"


def test_fast_path_layout_on_real_handles(seg):
    from sluice import _sluice
    lim = seg.define("x", algorithm="gcra", rate=10)
    assert _sluice._fast_layout_agrees(lim)
    assert _sluice._fast_layout_agrees(seg.limiter("x"))
    assert lim.try_acquire() is True
