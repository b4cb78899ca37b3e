"""asyncio: acquire_async never blocks the event loop; async decorator."""
import asyncio
import time

import pytest

import sluice


def run(coro):
    return asyncio.run(coro)


def test_acquire_async_waits_without_blocking_loop(seg):
    lim = seg.define("x", algorithm="sliding", limit=2, window=0.3)
    ticks = []

    async def ticker(stop):
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def main():
        stop = asyncio.Event()
        t = asyncio.create_task(ticker(stop))
        start = time.monotonic()
        for _ in range(4):  # the 3rd and 4th wait ~300 ms for the window
            await lim.acquire_async()
        elapsed = time.monotonic() - start
        stop.set()
        await t
        return start, elapsed

    start, elapsed = run(main())
    assert 0.25 <= elapsed < 2.0
    # The loop kept running while we waited: ticks all along, no long gap.
    during = [x for x in ticks if x >= start]
    assert len(during) >= 10
    gaps = [b - a for a, b in zip(during, during[1:])]
    assert max(gaps) < 0.15, f"event loop stalled for {max(gaps) * 1000:.0f} ms"


def test_acquire_async_timeout(seg):
    lim = seg.define("x", algorithm="sliding", limit=1, window=60.0)
    assert lim.try_acquire()

    async def main():
        t0 = time.monotonic()
        with pytest.raises(sluice.Timeout):
            await lim.acquire_async(timeout=1.0)  # 60 s away: refused at once
        return time.monotonic() - t0

    assert run(main()) < 0.5


def test_acquire_async_lease_sees_early_release(seg):
    lock = seg.define("lock", algorithm="lease", holders=1, ttl=30.0)
    lease = lock.lease()

    async def main():
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, lease.release)
        t0 = time.monotonic()
        await lock.acquire_async(timeout=5.0)
        return time.monotonic() - t0

    assert 0.09 <= run(main()) < 1.0


def test_acquire_async_too_many_permits(seg):
    lim = seg.define("x", algorithm="sliding", limit=2, window=1.0)
    with pytest.raises(sluice.InvalidArgument, match="can never be granted"):
        run(lim.acquire_async(3))


def test_many_concurrent_waiters(seg):
    lim = seg.define("x", algorithm="gcra", rate=100, period=1.0, burst=1)

    async def main():
        t0 = time.monotonic()
        await asyncio.gather(*(lim.acquire_async(timeout=5.0) for _ in range(20)))
        return time.monotonic() - t0

    elapsed = run(main())
    assert 0.15 <= elapsed < 2.0  # 20 grants at 100/s: about 190 ms


def test_async_decorator_and_async_with(seg):
    lim = seg.define("x", algorithm="sliding", limit=3, window=60.0)

    @lim.limit
    async def fetch(x):
        await asyncio.sleep(0)
        return x + 1

    async def main():
        a = await fetch(1)
        async with lim:
            pass
        b = await fetch(2)
        return a, b

    assert run(main()) == (2, 3)
    assert asyncio.iscoroutinefunction(fetch)
    assert not lim.try_acquire()


def test_lease_async(seg):
    lock = seg.define("lock", algorithm="lease", holders=1, ttl=0.2)
    first = lock.lease()

    async def main():
        t0 = time.monotonic()
        with pytest.raises(sluice.Timeout):
            await lock.lease_async(timeout=0.05)
        second = await lock.lease_async(timeout=5.0)  # when `first` lapses
        with second:
            assert second.token > first.token
        return second, time.monotonic() - t0

    second, elapsed = run(main())
    assert second.granted_ns >= first.expires_ns
    assert elapsed < 1.0
    with pytest.raises(sluice.InvalidArgument, match="not a lease limiter"):
        run(seg.define("g", algorithm="gcra", rate=1).lease_async())
