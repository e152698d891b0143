"""`ApprovalHub`: wakes approval waits the moment an oversight decision is heard.

A webhook receiver (or anything that learns of a decision) calls ``hub.publish(email_id,
data)``; every wait subscribed to that email wakes at once instead of at its next status
check. A decision that arrives before its wait subscribes is remembered (the most recent
``remember`` decisions), so the race between a fast reviewer and a slow send is harmless.
Thread-safe; async waits are woken on their own event loop.

Only a record that decides (`mm_assistants.approvals.watch.decisive`: approved with
evidence, scheduled, rejected, cancelled, send_failed) is handed on or remembered. A
record that still reads as held, or whose status is unknown, is dropped: handing it on
would wake a wait that has nothing to end on, and a wait woken again and again must not
turn into a stream of status checks.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from mm_assistants.approvals.watch import decided_record, decisive


class Subscription:
    """One wait's interest in one email; use as a context manager to unsubscribe."""

    def __init__(self, hub: ApprovalHub, email_id: str, loop: asyncio.AbstractEventLoop | None):
        self.email_id = email_id
        self._hub = hub
        self._event = threading.Event()
        self._data: Mapping[str, Any] | None = None
        self._loop = loop
        self._future: asyncio.Future[Mapping[str, Any]] | None = (
            loop.create_future() if loop is not None else None
        )

    def deliver(self, data: Mapping[str, Any]) -> None:
        """Hand this wait a decision (the hub does, for each `ApprovalHub.publish`); a
        record that decides nothing is ignored."""
        if not decisive(data):
            return  # never wake a wait with nothing to end on (the hub filters too)
        self._data = data
        self._event.set()
        if self._loop is not None and self._future is not None:
            self._loop.call_soon_threadsafe(self._settle, data)

    def _settle(self, data: Mapping[str, Any]) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(data)

    @property
    def decision(self) -> Mapping[str, Any] | None:
        """The decision's data once it arrived, else ``None``."""
        return self._data

    def wait(self, timeout: float) -> Mapping[str, Any] | None:
        """Block up to ``timeout`` seconds for the decision."""
        self._event.wait(max(timeout, 0.0))
        return self._data

    async def wait_async(self, timeout: float) -> Mapping[str, Any] | None:
        """Await up to ``timeout`` seconds for the decision (subscribe with `subscribe_async`)."""
        if self._future is None:
            raise RuntimeError("use ApprovalHub.subscribe_async() for async waits")
        if self._data is not None:
            return self._data
        try:
            return await asyncio.wait_for(asyncio.shield(self._future), max(timeout, 0.0))
        except asyncio.TimeoutError:
            return self._data

    def close(self) -> None:
        """Stop listening."""
        self._hub.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ApprovalHub:
    """Fan-out of oversight decisions to the waits that follow those emails."""

    def __init__(self, *, remember: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, list[Subscription]] = {}
        self._recent: OrderedDict[str, Mapping[str, Any]] = OrderedDict()
        self._remember = remember

    def __repr__(self) -> str:
        with self._lock:
            return f"ApprovalHub(waiting={sum(map(len, self._waiting.values()))})"

    def subscribe(self, email_id: str) -> Subscription:
        """Follow ``email_id`` from a thread."""
        return self._add(Subscription(self, email_id, None))

    def subscribe_async(self, email_id: str) -> Subscription:
        """Follow ``email_id`` from a coroutine (bound to the running event loop)."""
        return self._add(Subscription(self, email_id, asyncio.get_running_loop()))

    def publish(self, email_id: str, data: Mapping[str, Any]) -> int:
        """Deliver a decision about ``email_id``; returns how many waits it woke.

        A record that decides nothing (still held, unknown status, approval without
        evidence) is neither delivered nor remembered, and wakes nobody (returns 0).
        """
        if not decisive(data):
            return 0
        with self._lock:
            self._recent[email_id] = data
            self._recent.move_to_end(email_id)
            while len(self._recent) > self._remember:
                self._recent.popitem(last=False)
            waiting = list(self._waiting.get(email_id, ()))
        for subscription in waiting:
            subscription.deliver(data)
        return len(waiting)

    def publish_event(
        self, event_type: str, data: Mapping[str, Any], *, at: datetime | None = None
    ) -> int:
        """Deliver an ``oversight.approved``/``oversight.rejected`` event's data.

        Other event types are ignored. The email id is read from ``email_id``, ``id`` or
        ``message_id``. The event type says what was decided; an event whose data still
        shows the email held decides nothing (see
        `mm_assistants.approvals.watch.decided_record`). ``at`` is the event's time; when
        it is not given, an approval is dated when it was heard here (it happened no later),
        so that a scheduled email the event approved reads as approved.
        """
        heard = at if at is not None else datetime.now(timezone.utc)
        record = decided_record(event_type, data, at=heard)
        if record is None:
            return 0
        email_id = data.get("email_id") or data.get("id") or data.get("message_id")
        if not isinstance(email_id, str):
            return 0
        return self.publish(email_id, record)

    def _add(self, subscription: Subscription) -> Subscription:
        with self._lock:
            self._waiting.setdefault(subscription.email_id, []).append(subscription)
            known = self._recent.get(subscription.email_id)
        if known is not None:
            subscription.deliver(known)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription`` (what `Subscription.close` does)."""
        with self._lock:
            waiting = self._waiting.get(subscription.email_id, [])
            if subscription in waiting:
                waiting.remove(subscription)
            if not waiting:
                self._waiting.pop(subscription.email_id, None)
