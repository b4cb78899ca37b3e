"""sluice: a hard request budget shared by every process on a host.

Limiters live in a shared-memory segment (/dev/shm/sluice.<namespace>), so
every process that opens the same namespace shares them: a fleet of workers
never exceeds the limit of the resource it calls. A decision costs one clock
read and one atomic compare-and-swap; nothing in shared memory is a lock.

    import sluice
    seg = sluice.open("demo", create=True)
    api = seg.define("partner-api", algorithm="sliding", limit=5, window=0.8)
    api.acquire()                      # blocks (GIL released) until granted
    if api.try_acquire(): ...          # never blocks
    with api: ...                      # acquire(1)
    await api.acquire_async()          # asyncio, never blocks the loop
    lock = seg.define("migration", algorithm="lease", holders=1, ttl=0.25)
    with lock.lease(timeout=1.0) as lease:
        print(lease.token)             # fencing token; freed on exit or after ttl

Algorithms: "gcra" (rate per period, burst), "window" (limit per aligned
window), "sliding" (limit in any window), "lease" (holders at once, each for
ttl). Durations are float seconds (or budget-file strings such as "800ms").

Errors: sluice.Error, with subclasses Timeout (a TimeoutError), NotFound (a
KeyError), InvalidArgument (a ValueError) and NotHeld.

Processes: handles are per-process mappings. They stay valid in a fork()ed
child, and pickle by name (namespace + limiter), so they can be passed to
multiprocessing "spawn" workers. Ctrl-C interrupts a blocked acquire within
about 50 ms.
"""

import asyncio
import atexit
import functools
import inspect
import os
import sys
import weakref
from typing import NamedTuple, Optional

from ._errors import Error, InvalidArgument, NotFound, NotHeld, Timeout
from . import _sluice
from ._durations import spec_toml as _spec_toml
from ._durations import timeout_ns as _timeout_ns

__version__ = "0.1.0"

__all__ = [
    "open", "remove", "default_namespace", "now_ns",
    "Segment", "Limiter", "Lease", "Decision", "Spec", "Stats", "Level",
    "Error", "Timeout", "NotFound", "InvalidArgument", "NotHeld",
]

_NS = 1e9
# acquire_async on a lease limiter re-checks at least this often (an early
# release frees a holder before the soonest expiry it was told to wait for).
_LEASE_POLL_NS = 50_000_000
_MIN_SLEEP_NS = 50_000


def now_ns() -> int:
    """CLOCK_MONOTONIC in nanoseconds: the clock every decision uses (the
    same clock as time.monotonic_ns())."""
    return _sluice.now_ns()


def default_namespace() -> str:
    """The namespace used when none is given: $SLUICE_NAMESPACE or "default"."""
    return _sluice.Segment.default_namespace()


def open(namespace: Optional[str] = None, create: bool = False, *, mode: int = 0o600,
         read_only: bool = False, capacity: int = 256, arena_bytes: int = 4 << 20,
         allow_world_writable: bool = False) -> "Segment":
    """Opens (with create=True, creates if needed) the segment of `namespace`.

    namespace: None means default_namespace(). mode, capacity (limiter slots)
    and arena_bytes are used only by the process that creates the segment; a
    mode with o+w (0o666) needs allow_world_writable=True. create=True is an
    admin's open: it raises sluice.Error when the segment belongs to another
    user. Raises NotFound if it does not exist and
    create is False.
    """
    ns = default_namespace() if namespace is None else namespace
    if isinstance(mode, str):
        mode = int(mode, 8)
    return Segment(_sluice.Segment.open(ns, bool(create), bool(read_only), mode, capacity,
                                        arena_bytes, bool(allow_world_writable)))


def remove(namespace: str) -> None:
    """Unlinks /dev/shm/sluice.<namespace>. Processes that have it open keep
    sharing their mapping; later opens see a new segment. NotFound if absent."""
    _sluice.Segment.remove(namespace)


class Decision(NamedTuple):
    """Outcome of Limiter.try_acquire_ex()."""
    granted: bool
    retry_after: float  # when denied: seconds until it could be granted; 0 if granted
    time_ns: int        # CLOCK_MONOTONIC time the decision was taken at (the grant's time)


class Spec(NamedTuple):
    """A limiter's parameters. Fields that do not apply to its algorithm are
    None; durations are float seconds."""
    algorithm: str
    rate: Optional[int] = None
    period: Optional[float] = None
    burst: Optional[int] = None
    limit: Optional[int] = None
    window: Optional[float] = None
    holders: Optional[int] = None
    ttl: Optional[float] = None
    reclaim: Optional[bool] = None
    global_: bool = False
    description: str = ""   # one line, e.g. "sliding limit=5 window=800ms"
    toml: str = ""           # budget-file syntax


class Stats(NamedTuple):
    """Counters shared by every process (each process flushes its own in
    batches: at most 64 decisions or 1 ms late)."""
    granted: int      # permits granted
    denied: int       # permits denied
    asked: int        # permits asked for
    waits: int        # blocking acquires that had to sleep
    wait_time: float  # seconds slept in blocking acquires, in total
    waiting: int      # callers blocked right now (approximate)
    demand: float     # permits asked per second (recent estimate)


class Level(NamedTuple):
    """Current occupancy of a limiter."""
    used: float       # tokens spent (gcra), count (window), grants in the last
                      # window (sliding), holders (lease)
    capacity: float   # burst, limit or holders
    next_free: float  # seconds until one more permit frees (0 if free now)


def _make_spec(t) -> Spec:
    alg, rate, period_ns, burst, limit, window_ns, holders, ttl_ns, reclaim, glob, desc, toml = t
    if alg == "gcra":
        return Spec(alg, rate=rate, period=period_ns / _NS, burst=burst, global_=glob,
                    description=desc, toml=toml)
    if alg in ("window", "sliding"):
        return Spec(alg, limit=limit, window=window_ns / _NS, global_=glob, description=desc,
                    toml=toml)
    return Spec(alg, holders=holders, ttl=ttl_ns / _NS, reclaim=reclaim, global_=glob,
                description=desc, toml=toml)


# Live handles. Each process batches its counters (see Stats); the batches
# are flushed before fork() (so a child does not count its parent's again)
# and when the process ends: at interpreter exit, and at the end of a
# multiprocessing worker, which leaves through os._exit() without atexit.
_live = weakref.WeakSet()


def _flush_all() -> None:
    for lim in list(_live):
        lim._flush_stats()


class _MpHook:
    hooked = False


_mp_hook = _MpHook()


def _on_mp_child(_hook) -> None:
    from multiprocessing import util
    util.Finalize(None, _flush_all, exitpriority=0)


def _hook_multiprocessing() -> None:
    # Only where multiprocessing is in use: it is imported by then (in the
    # parent before it starts workers, in spawn children before unpickling).
    util = sys.modules.get("multiprocessing.util")
    if util is not None and not _MpHook.hooked:
        _MpHook.hooked = True
        util.register_after_fork(_mp_hook, _on_mp_child)


def _before_fork() -> None:
    _flush_all()
    _hook_multiprocessing()


atexit.register(_flush_all)
os.register_at_fork(before=_before_fork)
_hook_multiprocessing()


def _attach(namespace: str, name: str) -> "Limiter":
    return open(namespace).limiter(name)


class Limiter(_sluice.Limiter):
    """Handle on one named limiter in a segment. Thread-safe.

    Get one from Segment.define() or Segment.limiter(). Parameters are in
    `spec` (lim.spec.limit, lim.spec.window, ...); `limit` is the decorator.
    Pickles by name, so it can be passed to multiprocessing workers.
    """

    def __init__(self, handle: _sluice.Limiter, namespace: str) -> None:
        super().__init__(handle)
        self._namespace = namespace
        _live.add(self)

    def __reduce__(self):
        return (_attach, (self._namespace, self.name))

    def __repr__(self) -> str:
        return f"<sluice.Limiter {self._namespace}/{self.name}: {self.spec.description}>"

    @property
    def namespace(self) -> str:
        """The namespace of the segment the limiter lives in."""
        return self._namespace

    # try_acquire(permits=1) -> bool is inherited from the C++ class (hot path).

    def try_acquire_ex(self, permits: int = 1) -> Decision:
        """Like try_acquire, with the decision's details: when it was taken
        (the grant's time, on the time.monotonic_ns() clock) and, if denied,
        how long until it could be granted. Raises InvalidArgument if it can
        never be granted (more permits than the limiter's capacity)."""
        granted, retry_ns, t = self._try_acquire_ex(permits)
        return Decision(granted, retry_ns / _NS, t)

    def acquire(self, permits: int = 1, timeout: Optional[float] = None) -> None:
        """Blocks until `permits` are granted, sleeping with the GIL released.

        timeout: seconds, None for no limit. gcra and sliding reserve a turn and
        sleep until it; a turn later than the timeout is not taken: Timeout is
        raised at once. Ctrl-C raises KeyboardInterrupt (the turn is given back).
        """
        self._acquire(permits, _timeout_ns(timeout))

    async def acquire_async(self, permits: int = 1, timeout: Optional[float] = None) -> None:
        """Waits (asyncio) until `permits` are granted; never blocks the loop.

        Polls try_acquire and sleeps with asyncio.sleep until the limiter says a
        grant could succeed; no thread per waiter. Raises Timeout when the wait
        would exceed `timeout` seconds.
        """
        wait_ns = _timeout_ns(timeout)
        deadline = None if wait_ns < 0 else now_ns() + wait_ns
        lease = None
        while True:
            granted, retry_ns, t = self._try_acquire_ex(permits)
            if granted:
                return
            if lease is None:
                lease = self._spec()[0] == "lease"
            wait = retry_ns
            if lease:
                wait = min(wait, _LEASE_POLL_NS)
            if deadline is not None:
                remaining = deadline - t
                # Only a lease can free earlier than retry_after says.
                if remaining <= 0 or (not lease and retry_ns > remaining):
                    raise Timeout("timed out waiting for permits", "Timeout")
                wait = min(wait, remaining)
            await asyncio.sleep(max(wait, _MIN_SLEEP_NS) / _NS)

    def lease(self, timeout: Optional[float] = None) -> "Lease":
        """Takes a lease now (lease limiters only), blocking up to `timeout`
        seconds (None: no limit; GIL released). Raises Timeout."""
        return Lease(self, self._acquire_lease(_timeout_ns(timeout)))

    async def lease_async(self, timeout: Optional[float] = None) -> "Lease":
        """Takes a lease (lease limiters only) without blocking the event loop:
        tries, then sleeps with asyncio.sleep until the soonest holder lapses,
        re-checking at least every 50 ms for early releases. Raises Timeout."""
        wait_ns = _timeout_ns(timeout)
        deadline = None if wait_ns < 0 else now_ns() + wait_ns
        while True:
            t = self._try_lease()
            if t is not None:
                return Lease(self, t)
            now = now_ns()
            if deadline is not None and now >= deadline:
                raise Timeout("timed out waiting for a lease", "Timeout")
            wait = self._level()[2] or _LEASE_POLL_NS
            wait = min(wait, _LEASE_POLL_NS)
            if deadline is not None:
                wait = min(wait, deadline - now)
            await asyncio.sleep(max(wait, _MIN_SLEEP_NS) / _NS)

    def __enter__(self) -> "Limiter":
        self.acquire(1)
        return self

    def __exit__(self, *exc) -> None:
        return None

    async def __aenter__(self) -> "Limiter":
        await self.acquire_async(1)
        return self

    async def __aexit__(self, *exc) -> None:
        return None

    def limit(self, fn=None, *, permits: int = 1, timeout: Optional[float] = None):
        """Decorator: every call of the function first takes `permits`.

        Use as @lim.limit or @lim.limit(permits=2, timeout=1.0). Coroutine
        functions wait with acquire_async, others with acquire.
        """
        def wrap(f):
            if inspect.iscoroutinefunction(f):
                @functools.wraps(f)
                async def limited_async(*args, **kwargs):
                    await self.acquire_async(permits, timeout)
                    return await f(*args, **kwargs)
                return limited_async

            @functools.wraps(f)
            def limited(*args, **kwargs):
                self.acquire(permits, timeout)
                return f(*args, **kwargs)
            return limited

        return wrap if fn is None else wrap(fn)

    @property
    def spec(self) -> Spec:
        """Current parameters (they can change live when redefined)."""
        return _make_spec(self._spec())

    @property
    def algorithm(self) -> str:
        """"gcra", "window", "sliding" or "lease"."""
        return self._spec()[0]

    @property
    def stats(self) -> Stats:
        """Counters of every process (this handle's batch flushed first)."""
        g, d, a, w, wait_ns, waiting, demand = self._stats()
        return Stats(g, d, a, w, wait_ns / _NS, waiting, demand)

    @property
    def level(self) -> Level:
        """Current occupancy."""
        used, cap, next_free_ns = self._level()
        return Level(used, cap, next_free_ns / _NS)


class Lease:
    """A held lease: at most `holders` exist at once per limiter.

    Expires `ttl` after it was granted (or last renewed) unless released.
    As a context manager, leaving the block releases it (a lease that already
    expired is not an error there; release() raises NotHeld).
    """

    __slots__ = ("_limiter", "token", "granted_ns", "expires_ns", "_index", "_released")

    def __init__(self, limiter: Limiter, t) -> None:
        self._limiter = limiter
        self.token, self.granted_ns, self.expires_ns, self._index = t
        self._released = False

    def __repr__(self) -> str:
        return (f"<sluice.Lease {self._limiter.name} token={self.token} "
                f"remaining={self.remaining:.6f}s{' released' if self._released else ''}>")

    @property
    def expires(self) -> float:
        """When it lapses unless renewed, on the time.monotonic() clock."""
        return self.expires_ns / _NS

    @property
    def remaining(self) -> float:
        """Seconds until it lapses (negative once it has)."""
        return (self.expires_ns - now_ns()) / _NS

    def release(self) -> None:
        """Gives it back now and wakes waiters. NotHeld if it already expired,
        was released or was reclaimed."""
        self._limiter._release_lease(self.token, self.granted_ns, self.expires_ns, self._index)
        self._released = True

    def renew(self) -> None:
        """Extends it to now + ttl. NotHeld as for release()."""
        t = self._limiter._renew_lease(self.token, self.granted_ns, self.expires_ns, self._index)
        self.token, self.granted_ns, self.expires_ns, self._index = t

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        if not self._released:
            try:
                self.release()
            except NotHeld:
                pass


class Segment:
    """An open namespace: the named limiters every process on the host shares.

    Thread-safe. Pickles by namespace (the receiving process opens it again).
    """

    def __init__(self, handle: _sluice.Segment) -> None:
        self._seg = handle

    def __reduce__(self):
        return (open, (self.namespace,))

    def __repr__(self) -> str:
        return f"<sluice.Segment {self.namespace!r}{' read-only' if self.read_only else ''}>"

    @property
    def namespace(self) -> str:
        return self._seg.ns

    @property
    def path(self) -> str:
        """/dev/shm/sluice.<namespace>"""
        return _sluice.Segment.path_for(self._seg.ns)

    @property
    def read_only(self) -> bool:
        return self._seg.read_only

    def info(self) -> dict:
        """Header summary: capacity, used slots, sizes, mode, creation time."""
        return self._seg.info()

    def define(self, name: str, algorithm: str, *, rate: Optional[int] = None,
               period=None, burst: Optional[int] = None, limit: Optional[int] = None,
               window=None, holders: Optional[int] = None, ttl=None,
               reclaim: Optional[bool] = None, global_: Optional[bool] = None) -> Limiter:
        """Defines limiter `name`, or returns the existing one.

        The same parameters again are a no-op; other parameters of the same
        algorithm apply live (state is kept); another algorithm raises Error
        (code "Exists"). Keys and checks are those of a budget file:
          gcra:            rate, period (default 1 s), burst (default 1)
          window, sliding: limit, window
          lease:           holders, ttl, reclaim (default False)
        Durations are float seconds (0.8), a timedelta, or a string ("800ms").
        Bad values raise InvalidArgument with the budget file's message.
        """
        params = {"rate": rate, "period": period, "burst": burst, "limit": limit,
                  "window": window, "holders": holders, "ttl": ttl, "reclaim": reclaim,
                  "global": global_}
        handle = self._seg.define(name, _spec_toml(algorithm, params))
        return Limiter(handle, self.namespace)

    def limiter(self, name: str) -> Limiter:
        """The limiter called `name`; NotFound (a KeyError) if there is none."""
        return Limiter(self._seg.find(name), self.namespace)

    def limiters(self) -> list:
        """Every live limiter, in definition order."""
        return [Limiter(h, self.namespace) for h in self._seg.list()]

    def retire(self, name: str) -> None:
        """Hides limiter `name` from limiter()/limiters(); handles keep working
        and defining it again brings it back with its state."""
        self._seg.retire(name)

    def __getitem__(self, name: str) -> Limiter:
        return self.limiter(name)

    def __contains__(self, name: str) -> bool:
        try:
            self._seg.find(name)
        except NotFound:
            return False
        return True
