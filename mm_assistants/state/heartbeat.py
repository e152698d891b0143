"""Keep a lease alive while work runs: a daemon thread that renews it every few seconds.

A claim (a route claim, a resume's checkpoint claim) is a lease that lapses unless its
holder renews it. `Heartbeat` renews it on its own thread so the work itself needs no
timer; when a renewal fails (the store says the claim is no longer ours, or the store is
unreachable) it sets `Heartbeat.lost` and stops, and the work checks ``lost`` before each
write that must be its own. A heartbeat never raises into its caller, and closing it never
waits long: at most `Heartbeat.close_wait` seconds for a renewal under way (a renewal
stuck on a dead connection is left behind on its daemon thread, and `lost` is set, since
nobody knows whether it renewed).

Example::

    token = routes.token(thread)
    with Heartbeat(lambda: routes.heartbeat(thread, token), every=60.0) as beat:
        for step in run:
            if beat.lost.is_set():
                break  # another worker owns the thread now
            ...
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

log = logging.getLogger(__name__)

#: The longest `Heartbeat.close` waits for a renewal under way (seconds).
MAX_CLOSE_WAIT = 5.0


class Heartbeat:
    """Calls ``renew()`` every ``every`` seconds on a daemon thread until closed.

    ``renew`` returns True while the lease is still ours. When it returns False or raises,
    `lost` is set and the thread stops; nothing is raised to the caller. The first renewal
    happens ``every`` seconds after the start (the lease was just taken). `close` waits
    for a renewal under way at most `close_wait` seconds (2 x ``every``, at most
    `MAX_CLOSE_WAIT`).
    """

    def __init__(self, renew: Callable[[], bool], *, every: float) -> None:
        if isinstance(every, bool) or not isinstance(every, (int, float)) or not every > 0:
            raise ValueError(f"every is a number of seconds and must be positive, not {every!r}")
        self.every = float(every)
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
        while not self._stop.wait(self.every):
            try:
                kept = bool(self._renew())
            except Exception as error:  # noqa: BLE001 -- a failed renewal is a lost lease, never a crash of the worker
                # The type only: a driver's message may quote a DSN or a URL.
                log.warning(
                    "heartbeat: renewal failed (%s); the lease is lost", type(error).__name__
                )
                self.lost.set()
                return
            if not kept:
                log.warning("heartbeat: the lease is no longer ours")
                self.lost.set()
                return
