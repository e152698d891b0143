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

Across processes: give the hub a `mm_assistants.state.decisions.DecisionStore` (the
fleet's, e.g. ``PostgresDecisionStore``). Then `ApprovalHub.publish` also records the
decision in the store, which rings every process's hub; a hub that hears the bell for an
email its waits follow reads the decision back from the store and delivers it
(`mm_assistants.approvals.fleet_hub`). A wait subscribes first and the hub then reads the
store for it, and after every reconnect of its listener, and every ``reread_every``
seconds in case the listener went silent unnoticed, the hub re-reads every email it waits
on: a lost bell costs latency (at most ``reread_every``), never a decision. Example::

    hub = ApprovalHub(PostgresDecisionStore(dsn))     # in the web process and each worker
    hub.publish_event("oversight.approved", data)     # web process: wakes waits anywhere
    hub.close()                                       # at shutdown: stops the listener
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from mm_assistants import _validate
from mm_assistants.approvals.fleet_hub import REREAD_EVERY, DecisionNotShared, FleetLink
from mm_assistants.approvals.watch import decided_record, decision_rank, decisive
from mm_assistants.state.decisions import DecisionStore

logger = logging.getLogger("mm_assistants.approvals")

#: How often, by default, a wait woken by a hub still checks MultiMail itself, in case a
#: webhook was lost.
HUB_CHECK_INTERVAL = 300.0


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
    """Fan-out of oversight decisions to the waits that follow those emails.

    ``decisions`` (optional) is the fleet's `DecisionStore`: see the module docstring.
    ``check_interval`` is how often a wait this hub can wake still checks MultiMail
    itself, in case a webhook was lost (the waiters read it); ``None``: never, because a
    fleet watcher looks for lost decisions and publishes them. ``remember`` is how many
    recent decisions are kept for waits that subscribe late. ``reread_every`` (seconds,
    default `mm_assistants.approvals.fleet_hub.REREAD_EVERY`) is how often, with
    ``decisions``, the store is read again for every email waited on, in case the
    listener went silent without noticing (a half-open connection).
    """

    def __init__(
        self,
        decisions: DecisionStore | None = None,
        *,
        remember: int = 10_000,
        check_interval: float | None = HUB_CHECK_INTERVAL,
        reread_every: float = REREAD_EVERY,
    ) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, list[Subscription]] = {}
        self._recent: OrderedDict[str, Mapping[str, Any]] = OrderedDict()
        self._remember = remember
        self.check_interval = _validate.optional_number(
            "ApprovalHub", "check_interval", check_interval, above=True
        )
        self.decisions = decisions
        reread_every = _validate.number("ApprovalHub", "reread_every", reread_every, above=True)
        self._fleet = (
            None
            if decisions is None
            else FleetLink(
                decisions,
                heard=self._heard,
                waits_on=self._waits_on,
                waited=self._waited,
                reread_every=reread_every,
            )
        )

    def __repr__(self) -> str:
        with self._lock:
            waiting = sum(map(len, self._waiting.values()))
        fleet = "" if self.decisions is None else f", decisions={self.decisions!r}"
        return f"ApprovalHub(waiting={waiting}{fleet})"

    def subscribe(self, email_id: str) -> Subscription:
        """Follow ``email_id`` from a thread."""
        return self._add(Subscription(self, email_id, None))

    def subscribe_async(self, email_id: str) -> Subscription:
        """Follow ``email_id`` from a coroutine (bound to the running event loop)."""
        return self._add(Subscription(self, email_id, asyncio.get_running_loop()))

    def start(self) -> None:
        """Start listening to the fleet's decisions now rather than at the first
        subscription (no effect without ``decisions``)."""
        if self._fleet is not None:
            self._fleet.start()

    def close(self) -> None:
        """Stop listening to the fleet's decisions (a later subscription starts again).
        Waits already woken keep their decisions."""
        if self._fleet is not None:
            self._fleet.close()

    def publish(self, email_id: str, data: Mapping[str, Any]) -> int:
        """Deliver a decision about ``email_id``; returns how many waits it woke here.

        A record that decides nothing (still held, unknown status, approval without
        evidence) is neither delivered, remembered nor recorded, and wakes nobody
        (returns 0). With ``decisions`` the record is first kept in the store, which rings
        every process, and the local waits are woken second: a wait that cannot be woken
        (its event loop closed) never costs the fleet its record. When the store fails,
        the local waits are still woken and `DecisionNotShared` is raised afterwards (the
        other processes were not told).

        A record less final than the decision already known
        (`mm_assistants.approvals.watch.decision_rank`: a late ``approved`` after a
        ``send_failed``) is stale: the known decision stays, and is what waits are woken
        with. When the store refuses it this way, nothing is woken here at once (returns
        0): the hub reads the kept decision from the store and wakes the waits with it.
        """
        if not decisive(data):
            return 0
        unshared: Exception | None = None
        fleet = self._fleet
        if fleet is not None:
            try:
                written = fleet.record(email_id, data)
            except Exception as error:  # noqa: BLE001 -- raised below, once the waits here are woken
                unshared = error
            else:
                if not written:
                    # the store keeps a more final decision another process heard: this
                    # stale record must not end a wait here; the reader hands the kept one
                    fleet.start()
                    fleet.note((email_id,))
                    return 0
        woken = self._heard(email_id, data)
        if unshared is not None:
            raise DecisionNotShared(email_id, woken) from unshared
        return woken

    def publish_event(
        self, event_type: str, data: Mapping[str, Any], *, at: datetime | None = None
    ) -> int:
        """Deliver an ``oversight.approved``/``oversight.rejected`` event's data.

        Other event types are ignored. The email id is read from ``email_id``, ``id`` or
        ``message_id``. The event type says what was decided; an event whose data still
        shows the email held decides nothing (see
        `mm_assistants.approvals.watch.decided_record`). ``at`` is the event's time; when
        it is not given, an approval is dated when it was heard here (it happened no later),
        so that a scheduled email the event approved reads as approved. Like `publish`,
        raises `DecisionNotShared` when the fleet's store fails.
        """
        heard = at if at is not None else datetime.now(timezone.utc)
        record = decided_record(event_type, data, at=heard)
        if record is None:
            return 0
        email_id = data.get("email_id") or data.get("id") or data.get("message_id")
        if not isinstance(email_id, str):
            return 0
        return self.publish(email_id, record)

    def current(self, email_id: str) -> Mapping[str, Any] | None:
        """The decision known for ``email_id``: remembered here or, with ``decisions``,
        kept in the store; ``None`` when there is none (or the store cannot be read).

        For a wait's last look at its deadline. It may read the database: from async code
        call it through ``asyncio.to_thread``.
        """
        with self._lock:
            known = self._recent.get(email_id)
        if known is not None or self._fleet is None:
            return known
        try:
            found = self._fleet.read((email_id,)).get(email_id)
        except Exception as error:  # noqa: BLE001 -- a failed last look is no decision
            logger.warning("could not read a stored decision (%s)", type(error).__name__)
            return None
        if found is None or not decisive(found):
            return None
        kept, _ = self._remember_decision(email_id, found)
        return kept

    def _add(self, subscription: Subscription) -> Subscription:
        with self._lock:
            self._waiting.setdefault(subscription.email_id, []).append(subscription)
            known = self._recent.get(subscription.email_id)
        if known is not None:
            subscription.deliver(known)
        elif self._fleet is not None:
            # subscribed first, read second: a decision stored before the subscription
            # existed is found by this read, one stored after it rings the bell
            self._fleet.start()
            self._fleet.note((subscription.email_id,))
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription`` (what `Subscription.close` does)."""
        with self._lock:
            waiting = self._waiting.get(subscription.email_id, [])
            if subscription in waiting:
                waiting.remove(subscription)
            if not waiting:
                self._waiting.pop(subscription.email_id, None)

    def _heard(self, email_id: str, data: Mapping[str, Any]) -> int:
        """Remember a decisive ``data`` and wake this process's waits on ``email_id``."""
        if not decisive(data):
            return 0
        data, waiting = self._remember_decision(email_id, data)
        for subscription in waiting:
            try:
                subscription.deliver(data)
            except Exception as error:  # noqa: BLE001 -- one dead wait must not stop the others
                # e.g. an async wait whose event loop closed without unsubscribing
                logger.warning(
                    "could not wake a wait on email %r (%s)", email_id, type(error).__name__
                )
        return len(waiting)

    def _remember_decision(
        self, email_id: str, data: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], list[Subscription]]:
        """Remember ``data`` unless the decision remembered is more final (then that one
        stays); the decision kept, and the waits to wake with it."""
        with self._lock:
            known = self._recent.get(email_id)
            if known is not None and decision_rank(known) > decision_rank(data):
                data = known  # stale news (e.g. a late approval after send_failed)
            self._recent[email_id] = data
            self._recent.move_to_end(email_id)
            while len(self._recent) > self._remember:
                self._recent.popitem(last=False)
            return data, list(self._waiting.get(email_id, ()))

    def _waits_on(self, email_id: str) -> bool:
        with self._lock:
            return email_id in self._waiting

    def _waited(self) -> list[str]:
        with self._lock:
            return list(self._waiting)
