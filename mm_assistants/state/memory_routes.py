"""`MemoryRouteStore`: the inbound router's links, seen deliveries, claims and queues in
this process's memory (see `mm_assistants.state.routes` for what each call means)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

from mm_assistants.state.backoff import retry_delay
from mm_assistants.state.routes import (
    DEFAULT_LEASE,
    DEFAULT_SEEN_LIMIT,
    RECOVERED,
    Admission,
    Claimed,
    ClaimedMessages,
    Enqueued,
    FailedThread,
    InboundMessage,
    check_lease,
)


@dataclass(frozen=True)
class _RouteClaim:
    fence: int  # the claim's fencing token
    at: float  # when it was taken or last renewed (a parked claim does not lapse)
    parked: str | None = None  # the checkpoint id of the parked run
    resuming: str | None = None  # the checkpoint a claim taken by unpark resumes


@dataclass
class _Entry:
    message: InboundMessage
    taken: int | None = None  # the fence of the claim that took it (None: queued)


class MemoryRouteStore:
    """A `RouteStore` in memory (gone when the process ends); at most ``seen_limit``
    delivery keys are remembered, the oldest forgotten first."""

    def __init__(
        self, *, lease: float = DEFAULT_LEASE, seen_limit: int = DEFAULT_SEEN_LIMIT
    ) -> None:
        self.lease = check_lease(lease)
        self._lock = threading.Lock()
        self._targets: dict[str, str] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_limit = seen_limit
        self._claims: dict[str, _RouteClaim] = {}
        self._queues: dict[str, list[_Entry]] = {}
        self._attempts: dict[str, int] = {}
        self._next_attempt: dict[str, float] = {}  # a thread whose run raised: due then
        self._failed: dict[str, FailedThread] = {}
        self._last_fence = 0  # one counter for all threads: a token is never reused

    def __repr__(self) -> str:
        return f"MemoryRouteStore(threads={len(self._targets)}, claimed={len(self._claims)})"

    def target(self, mm_thread: str) -> str | None:
        """Where ``mm_thread`` continues, or ``None``."""
        with self._lock:
            return self._targets.get(mm_thread)

    def set_target(self, mm_thread: str, target: str, *, token: int | None = None) -> bool:
        """Remember where ``mm_thread`` continues (see `RouteStore.set_target`)."""
        with self._lock:
            held = self._claims.get(mm_thread)
            if token is not None and (held is None or held.fence != token):
                return False
            self._targets[mm_thread] = target
            return True

    def seen(self, key: str) -> bool:
        """Whether the delivery ``key`` was admitted or held before."""
        with self._lock:
            return key in self._seen

    def mark_seen(self, key: str) -> None:
        """Remember the delivery ``key`` without queueing anything."""
        with self._lock:
            self._remember(key)

    def admit(self, key: str, mm_thread: str, message: InboundMessage) -> Admission:
        """Seen-check, then queue or claim, atomically (see `RouteStore.admit`)."""
        with self._lock:
            if key in self._seen:
                return "duplicate"
            self._remember(key)
            if self._live(mm_thread) is not None:
                self._queues.setdefault(mm_thread, []).append(_Entry(message))
                return "queued"
            fence = self._take(mm_thread)
            self._queues.setdefault(mm_thread, []).append(_Entry(message, fence))
            return Claimed(fence)

    def enqueue(self, key: str, mm_thread: str, message: InboundMessage) -> Enqueued:
        """Seen-check and queue, atomically, never claiming (see `RouteStore.enqueue`)."""
        with self._lock:
            if key in self._seen:
                return "duplicate"
            self._remember(key)
            self._queues.setdefault(mm_thread, []).append(_Entry(message))
            return "queued"

    def attempts(self, mm_thread: str) -> int:
        """How many workers the thread's current work has lost."""
        with self._lock:
            return self._attempts.get(mm_thread, 0)

    def fail(self, mm_thread: str, token: int, reason: str) -> bool:
        """End the thread's work as failed, its messages kept aside (see `RouteStore.fail`)."""
        with self._lock:
            held = self._claims.get(mm_thread)
            if held is None or held.fence != token:
                return False
            # the claim's messages only: mail queued since waits, and runs (the thread is
            # stalled once the claim is dropped)
            queue = self._queues.pop(mm_thread, [])
            kept = [entry.message for entry in queue if entry.taken is not None]
            waiting = [entry for entry in queue if entry.taken is None]
            if waiting:
                self._queues[mm_thread] = waiting
            earlier = self._failed.pop(mm_thread, None)
            before = () if earlier is None else earlier.messages
            self._failed[mm_thread] = FailedThread(mm_thread, reason, time.time(), (*before, *kept))
            del self._claims[mm_thread]
            self._attempts.pop(mm_thread, None)
            self._next_attempt.pop(mm_thread, None)
            return True

    def failed(self, *, limit: int = 100) -> list[FailedThread]:
        """Threads whose work failed, oldest first."""
        with self._lock:
            return sorted(self._failed.values(), key=lambda f: f.failed_at)[:limit]

    def finish(self, mm_thread: str, *, token: int | None = None) -> list[InboundMessage]:
        """Take the queue, or drop the claim when it is empty (see `RouteStore.finish`);
        a parked claim stays, with its queue."""
        with self._lock:
            held = self._claims.get(mm_thread)
            if held is not None and held.parked is not None:
                return []
            if token is not None and (held is None or held.fence != token):
                return []
            self._done(mm_thread)
            fence = held.fence if held is not None else self._next_fence()
            queued = self._take_queue(mm_thread, fence)
            if queued:
                self._claims[mm_thread] = _RouteClaim(fence, time.time())
            else:
                self._claims.pop(mm_thread, None)
            return queued

    def release(
        self, mm_thread: str, messages: list[InboundMessage], *, token: int | None = None
    ) -> None:
        """Put ``messages`` back first and drop the claim (see `RouteStore.release`); a
        parked claim or another's claim stays."""
        with self._lock:
            held = self._claims.get(mm_thread)
            queue = self._queues.setdefault(mm_thread, [])
            if token is not None and (held is None or held.fence != token):
                # taken over: a recovering claim gave the taken messages back already
                known = {entry.message.email_id for entry in queue}
                back = [_Entry(m) for m in messages if m.email_id not in known]
                self._queues[mm_thread] = [*back, *queue]
                if not self._queues[mm_thread]:
                    del self._queues[mm_thread]
                return
            # exactly ``messages`` go back, first; taken ones not among them were used up
            waiting = [e for e in self._queues.get(mm_thread, []) if e.taken is None]
            self._queues[mm_thread] = [*(_Entry(m) for m in messages), *waiting]
            if not self._queues[mm_thread]:
                del self._queues[mm_thread]
            if held is not None and held.parked is None:
                del self._claims[mm_thread]
                if token is not None:  # the holder's run raised: an attempt, and to the back
                    attempts = self._attempts.get(mm_thread, 0) + 1
                    self._attempts[mm_thread] = attempts
                    self._next_attempt[mm_thread] = time.time() + retry_delay(attempts)
                    if mm_thread in self._queues:
                        self._queues[mm_thread] = self._queues.pop(mm_thread)

    def backing_off(self, mm_thread: str) -> float:
        """Seconds until the thread is due again after its run raised (0.0: due)."""
        with self._lock:
            return max(0.0, self._next_attempt.get(mm_thread, 0.0) - time.time())

    def token(self, mm_thread: str) -> int | None:
        """The fencing token of the thread's live or parked claim, or ``None``."""
        with self._lock:
            held = self._live(mm_thread)
            return None if held is None else held.fence

    def heartbeat(self, mm_thread: str, token: int) -> bool:
        """Renew the claim ``token`` (see `RouteStore.heartbeat`); a parked one needs none."""
        with self._lock:
            held = self._claims.get(mm_thread)
            if held is None or held.fence != token:
                return False
            if held.parked is None:
                self._claims[mm_thread] = replace(held, at=time.time())
            return True

    def park(self, mm_thread: str, token: int, checkpoint_id: str) -> bool:
        """Keep the claim ``token`` without a lease (see `RouteStore.park`); the messages
        the run took are in its checkpoint now."""
        with self._lock:
            held = self._claims.get(mm_thread)
            if held is None or held.fence != token:
                return False
            self._claims[mm_thread] = replace(held, parked=checkpoint_id)
            self._done(mm_thread)
            return True

    def parked(self, mm_thread: str) -> str | None:
        """The checkpoint id of the thread's parked run (or of a resume whose claim
        lapsed: its resumer died), or ``None``."""
        with self._lock:
            held = self._claims.get(mm_thread)
            return None if held is None else held.parked or self._lapsed_resume(held)

    def unpark(self, mm_thread: str, checkpoint_id: str) -> tuple[int, list[InboundMessage]] | None:
        """A fresh live claim and the queued messages, once (see `RouteStore.unpark`)."""
        with self._lock:
            held = self._claims.get(mm_thread)
            if held is None or checkpoint_id not in (held.parked, self._lapsed_resume(held)):
                return None
            fence = self._take(mm_thread, resuming=checkpoint_id, recover=True)
            return fence, self._take_queue(mm_thread, fence)

    def stalled(self, limit: int | None = None) -> list[str]:
        """Threads with queued or taken messages and no live or parked claim, at most
        ``limit``; a thread whose run was just released last, once its backoff ran out."""
        with self._lock:
            now = time.time()
            found = [
                t
                for t, queue in self._queues.items()
                if queue and self._live(t) is None and self._next_attempt.get(t, 0.0) <= now
            ]
            return found if limit is None else found[: max(0, limit)]

    def claim(self, mm_thread: str, *, recover: bool = False) -> ClaimedMessages | None:
        """Claim a stalled thread (see `RouteStore.claim`)."""
        with self._lock:
            held = self._claims.get(mm_thread)
            if self._live(mm_thread) is not None or (held and self._lapsed_resume(held)):
                return None  # a lapsed resume is taken again by unpark, never beside it
            fence = self._take(mm_thread, recover=recover)
            # a take-over runs the lost claim's messages alone: mail queued meanwhile
            # waits for the next run, and is never set aside with them (`fail`)
            recovered = any(e.taken == RECOVERED for e in self._queues.get(mm_thread, []))
            taken = self._take_queue(mm_thread, fence, only_recovered=recovered)
            return ClaimedMessages(taken, fence, self._attempts.get(mm_thread, 0))

    def _live(self, mm_thread: str) -> _RouteClaim | None:
        held = self._claims.get(mm_thread)
        if held is None or (held.parked is None and time.time() - held.at >= self.lease):
            return None
        return held

    def _lapsed_resume(self, held: _RouteClaim) -> str | None:
        if held.resuming is None or time.time() - held.at < self.lease:
            return None
        return held.resuming

    def _take(self, mm_thread: str, *, resuming: str | None = None, recover: bool = False) -> int:
        """A new claim. One that takes over a lapsed claim gives its taken messages back
        and counts an attempt (``recover``: its worker died), or else leaves them to the
        lapsed claim's holder (a router's take-over: that worker may still be running)."""
        held = self._claims.get(mm_thread)
        queue = self._queues.get(mm_thread, [])
        if held is not None and held.parked is None and recover:  # callers checked: lapsed
            self._attempts[mm_thread] = self._attempts.get(mm_thread, 0) + 1
            for entry in queue:
                if entry.taken is not None:
                    entry.taken = RECOVERED
        elif queue:
            self._queues[mm_thread] = [entry for entry in queue if entry.taken is None]
        fence = self._next_fence()
        self._claims[mm_thread] = _RouteClaim(fence, time.time(), resuming=resuming)
        return fence

    def _take_queue(
        self, mm_thread: str, fence: int, *, only_recovered: bool = False
    ) -> list[InboundMessage]:
        taken = []
        for entry in self._queues.get(mm_thread, []):
            if entry.taken == RECOVERED or (entry.taken is None and not only_recovered):
                entry.taken = fence
                taken.append(entry.message)
        return taken

    def _done(self, mm_thread: str) -> None:
        """The claim's run is over (finished or parked): its taken messages are gone."""
        left = [entry for entry in self._queues.get(mm_thread, []) if entry.taken is None]
        if left:
            self._queues[mm_thread] = left
        else:
            self._queues.pop(mm_thread, None)
        self._attempts.pop(mm_thread, None)
        self._next_attempt.pop(mm_thread, None)

    def _next_fence(self) -> int:
        self._last_fence += 1
        return self._last_fence

    def _remember(self, key: str) -> None:
        self._seen[key] = None
        while len(self._seen) > self._seen_limit:
            self._seen.popitem(last=False)
