"""Keep a lease alive while work runs: a daemon thread that renews it every few seconds.

A claim (a route claim, a resume's checkpoint claim) is a lease that lapses unless its
holder renews it. `Heartbeat` renews it on its own thread so the work itself needs no
timer; when the store says the claim is no longer ours it sets `Heartbeat.lost` and stops,
and the work checks ``lost`` before each write that must be its own. A renewal that
*raises* (a database blip, a reset pooled connection) says nothing about the claim: it is
retried, every third of the interval, until the lease would really have run out since the
last renewal that worked (``lease``, three intervals by default); only then is ``lost``
set. One transient error must not give a live claim up: the work would skip its fenced
writes, and the claim would lapse under a run that is still going on. A heartbeat never
raises into its caller, and closing it never waits long: at most `Heartbeat.close_wait`
seconds for a renewal under way (a renewal stuck on a dead connection is left behind on
its daemon thread, and `lost` is set, since nobody knows whether it renewed).

A heartbeat may have a maximum age (``max_age`` seconds): past it, renewals stop and
`lost` is set, so a claim held by work that hangs (a deadlocked tool, an HTTP call with no
timeout) lapses one lease later and another worker may take it over; the hung work's later
writes are refused by the claim's fencing token. `AsyncHeartbeat` is the asyncio twin: a
task of the running loop whose renewals run in `asyncio.to_thread`, so a slow store never
blocks the loop and no OS thread is kept per lease.

Example::

    token = routes.token(thread)
    with Heartbeat(lambda: routes.heartbeat(thread, token), every=60.0) as beat:
        for step in run:
            if beat.lost.is_set():
                break  # another worker owns the thread now
            ...
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)

#: The longest `Heartbeat.close` waits for a renewal under way (seconds).
MAX_CLOSE_WAIT = 5.0


def next_step(elapsed: float, every: float, max_age: float | None) -> tuple[float, bool]:
    """What a heartbeat does next, ``elapsed`` seconds after it started: wait the first
    number of seconds, then renew (``False``) or give the lease up (``True``: the next
    renewal would fall at or past ``max_age``)."""
    if max_age is not None and elapsed + every >= max_age:
        return max(0.0, max_age - elapsed), True
    return every, False


def retry_step(since_ok: float, every: float, lease: float) -> tuple[float, bool]:
    """After a renewal raised, ``since_ok`` seconds after the last one that worked (or the
    start): wait the first number of seconds, then retry (``False``), or give the lease up
    (``True``: the retry would fall at or past the lease's end, when another worker may
    hold the claim)."""
    wait = every / 3
    if since_ok + wait >= lease:
        return 0.0, True
    return wait, False


class _Schedule:
    """When a heartbeat renews, retries or gives up (pure; each shell does the waiting)."""

    def __init__(self, every: float, max_age: float | None, lease: float, now: float) -> None:
        self.every, self.max_age, self.lease = every, max_age, lease
        self.started = self.last_ok = now
        self.failing = False

    def next(self, now: float) -> tuple[float, str]:
        """Seconds to wait, then ``renew``, ``expire`` (max age) or ``lost`` (at once)."""
        wait, expire = next_step(now - self.started, self.every, self.max_age)
        if self.failing:
            retry, give_up = retry_step(now - self.last_ok, self.every, self.lease)
            if give_up:
                return 0.0, "lost"
            if retry < wait:
                return retry, "renew"
        return wait, "expire" if expire else "renew"


def _check(every: float, max_age: float | None, lease: float | None = None) -> None:
    for name, value in (("every", every), ("max_age", max_age), ("lease", lease)):
        if value is None and name != "every":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} is a number of seconds and must be positive, not {value!r}")


def _log_expired(max_age: float | None, on_expired: Callable[[], None] | None) -> None:
    log.warning("heartbeat: the work ran past its maximum age of %.0f s; renewals stop", max_age)
    if on_expired is not None:
        try:
            on_expired()
        except Exception as error:  # noqa: BLE001 -- a caller's log hook never crashes the heartbeat
            log.warning("heartbeat: on_expired failed (%s)", type(error).__name__)


def _log_failed(error: BaseException) -> None:
    # The type only: a driver's message may quote a DSN or a URL.
    log.warning(
        "heartbeat: renewal failed (%s); retrying until the lease runs out", type(error).__name__
    )


def _log_gave_up() -> None:
    log.warning("heartbeat: no renewal worked for a whole lease; the lease is lost")


class Heartbeat:
    """Calls ``renew()`` every ``every`` seconds on a daemon thread until closed.

    ``renew`` returns True while the lease is still ours. When it returns False, `lost` is
    set and the thread stops; when it raises, it is retried every third of ``every`` until
    ``lease`` seconds (3 x ``every`` by default: the claim's lease, renewed every third of
    it) passed since the last renewal that worked, then `lost` is set. Nothing is raised to
    the caller. The first renewal
    happens ``every`` seconds after the start (the lease was just taken). `close` waits
    for a renewal under way at most `close_wait` seconds (2 x ``every``, at most
    `MAX_CLOSE_WAIT`). With ``max_age``, renewals stop that many seconds after the start:
    `lost` is set and ``on_expired()`` called (once, on the heartbeat's thread).
    """

    def __init__(
        self,
        renew: Callable[[], bool],
        *,
        every: float,
        max_age: float | None = None,
        on_expired: Callable[[], None] | None = None,
        lease: float | None = None,
    ) -> None:
        _check(every, max_age, lease)
        self.every = float(every)
        #: Seconds after the start when renewals stop (``None``: never).
        self.max_age = None if max_age is None else float(max_age)
        #: How long a renewal holds: failed renewals are retried until it ran out.
        self.lease = 3 * self.every if lease is None else float(lease)
        self._on_expired = on_expired
        #: Seconds `close` waits for a renewal under way before it gives up on it.
        self.close_wait = min(2 * self.every, MAX_CLOSE_WAIT)
        #: Set when a renewal failed: the lease may belong to someone else now.
        self.lost = threading.Event()
        self._renew = renew
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "lost" if self.lost.is_set() else "running" if self.running else "stopped"
        return f"Heartbeat(every={self.every}, {state})"

    @property
    def running(self) -> bool:
        """Whether the renewing thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Heartbeat:
        """Start renewing (once; a second start does nothing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mm-heartbeat", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop renewing and wait for a renewal under way, at most `close_wait` seconds.
        When it is still running then (a hung store), `lost` is set and the thread is left
        to finish on its own: it is a daemon and renews no more."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.close_wait)
            if thread.is_alive():
                log.warning(
                    "heartbeat: a renewal did not finish within %.1f s; the lease may be lost",
                    self.close_wait,
                )
                self.lost.set()

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        plan = _Schedule(self.every, self.max_age, self.lease, time.monotonic())
        while True:
            wait, action = plan.next(time.monotonic())
            if action == "lost":
                _log_gave_up()
                self.lost.set()
                return
            if self._stop.wait(wait):
                return
            if action == "expire":
                self.lost.set()
                _log_expired(self.max_age, self._on_expired)
                return
            attempted = time.monotonic()
            try:
                kept = bool(self._renew())
            except Exception as error:  # noqa: BLE001 -- a failed renewal is retried, never a crash of the worker
                _log_failed(error)
                plan.failing = True
                continue
            plan.failing, plan.last_ok = False, attempted
            if not kept:
                log.warning("heartbeat: the lease is no longer ours")
                self.lost.set()
                return


class AsyncHeartbeat:
    """`Heartbeat` for asyncio: a task of the running loop calls ``renew()`` in
    `asyncio.to_thread` every ``every`` seconds, so a slow store never blocks the loop.

    ``lost`` is an `asyncio.Event` (``await beat.lost.wait()`` or ``beat.lost.is_set()``);
    ``max_age``, ``on_expired`` and ``lease`` (failed renewals retried until it ran out)
    are as for `Heartbeat`. `aclose` waits for a renewal
    under way at most `close_wait` seconds, then leaves it to its worker thread (it renews
    no more) and sets ``lost``. Use it as ``async with AsyncHeartbeat(...) as beat``.
    """

    def __init__(
        self,
        renew: Callable[[], bool],
        *,
        every: float,
        max_age: float | None = None,
        on_expired: Callable[[], None] | None = None,
        lease: float | None = None,
    ) -> None:
        _check(every, max_age, lease)
        self.every = float(every)
        self.max_age = None if max_age is None else float(max_age)
        self.lease = 3 * self.every if lease is None else float(lease)
        self.close_wait = min(2 * self.every, MAX_CLOSE_WAIT)
        #: Set when a renewal failed or ``max_age`` passed: the lease may be someone else's.
        self.lost = asyncio.Event()
        self._renew = renew
        self._on_expired = on_expired
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "lost" if self.lost.is_set() else "running" if self.running else "stopped"
        return f"AsyncHeartbeat(every={self.every}, {state})"

    @property
    def running(self) -> bool:
        """Whether the renewing task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> AsyncHeartbeat:
        """Start renewing, in a task of the running loop (once; a second start does nothing)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mm-heartbeat")
        return self

    async def aclose(self) -> None:
        """Stop renewing; wait for a renewal under way at most `close_wait` seconds."""
        self._stop.set()
        task = self._task
        if task is None or task is asyncio.current_task():
            return
        done, _ = await asyncio.wait({task}, timeout=self.close_wait)
        if not done:
            task.cancel()  # the renewal's worker thread finishes on its own; no more follow
            log.warning(
                "heartbeat: a renewal did not finish within %.1f s; the lease may be lost",
                self.close_wait,
            )
            self.lost.set()

    async def __aenter__(self) -> AsyncHeartbeat:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        plan = _Schedule(self.every, self.max_age, self.lease, loop.time())
        while True:
            wait, action = plan.next(loop.time())
            if action == "lost":
                _log_gave_up()
                self.lost.set()
                return
            try:
                await asyncio.wait_for(self._stop.wait(), wait)
                return  # closed
            except TimeoutError:
                pass
            if action == "expire":
                self.lost.set()
                _log_expired(self.max_age, self._on_expired)
                return
            attempted = loop.time()
            try:
                kept = bool(await asyncio.to_thread(self._renew))
            except Exception as error:  # noqa: BLE001 -- a failed renewal is retried, never a crash of the worker
                _log_failed(error)
                plan.failing = True
                continue
            plan.failing, plan.last_ok = False, attempted
            if not kept:
                log.warning("heartbeat: the lease is no longer ours")
                self.lost.set()
                return
