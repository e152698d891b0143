"""The web side of a Celery fleet: the receiver commits, then rings.

A ``message.received`` delivery is verified, its admission (seen + queued) committed in
PostgreSQL by `FleetWork.admit`, and only then answered 2xx; after the answer its thread
is enqueued to ``mm_assistants.route_inbound``, best effort. The web process never claims
a thread and never runs the model: a task does. A broker that is down when the bell rings
costs nothing but time: the mail is in PostgreSQL, and the next sweep (beat, or a worker
starting) enqueues it. Likewise an ``oversight.approved``/``rejected`` delivery is recorded
for the fleet, and after the answer the parked run waiting on that email (if any) is
enqueued to ``mm_assistants.resume_run`` (`ring_resume`), so a person's decision resumes
it at once rather than at the next sweep.

`RingingWebhookReceiver` is a `WebhookReceiver` that does exactly that with any of the
framework adapters (they answer from ``accept`` and call ``handle`` after the answer)::

    tasks = install(app, build_work)                  # mm_assistants.celery.install
    receiver = RingingWebhookReceiver(secret, work=FleetWork(...), tasks=tasks,
                                      hub=hub, replay_guard=state.seen)
    routes = [webhook_route(receiver)]                # mm_assistants.webhooks.starlette

An admission that fails (the database is down) is answered 503, and the delivery is
forgotten by the replay memory, so MultiMail's retry is taken. `AdmitAndRing` is the same
pair of steps as an `EventRouter` for a receiver that handles an event before answering
(``receiver.receive(body, headers)`` in a view of your own).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from mm_assistants.celery.tasks import Tasks
from mm_assistants.state import SeenDeliveries
from mm_assistants.webhooks import HandledEvent, WebhookEvent, WebhookReceiver
from mm_assistants.webhooks.receiver import DecisionNotKept, RouteReport

logger = logging.getLogger("mm_assistants.celery")

#: How many admitted events wait for their ``handle`` at most (a caller that only accepts).
_ADMITTED_LIMIT = 10_000
#: Decisions that may make a parked run resumable.
_DECIDING = frozenset({"oversight.approved", "oversight.rejected"})
_NOT_ADMITTED = (
    "the inbound message could not be admitted; answer 503 so that MultiMail delivers it again"
)


class Admits(Protocol):
    """What the web side calls (`mm_assistants.inbound.work.FleetWork` is one)."""

    def admit(self, event: WebhookEvent) -> RouteReport: ...


def ring_key(result: RouteReport) -> str | None:
    """The thread to enqueue after an admission (``None``: nothing to do, such as a
    duplicate, a held or an ignored event)."""
    key = getattr(result, "mm_thread", None)
    if isinstance(key, str) and key:
        return key
    if result.action in ("queued", "started"):
        return result.mm_thread_id
    return None


def ring(tasks: Tasks, result: RouteReport) -> bool:
    """Enqueue ``route_inbound`` for an admission that committed; True when sent. Call it
    only after the admission committed (and, in a web view, after the answer was decided):
    a bell before the commit could reach a worker that finds nothing yet."""
    key = ring_key(result)
    if key is None:
        return False
    return tasks.enqueue(tasks.route_inbound, key)


class AdmitAndRing:
    """An `EventRouter`: ``route(event)`` admits the event and rings for it."""

    def __init__(self, work: Admits, tasks: Tasks) -> None:
        self.work = work
        self.tasks = tasks

    def __repr__(self) -> str:
        return f"AdmitAndRing(queue={self.tasks.queue!r})"

    def route(self, event: WebhookEvent) -> RouteReport:
        """Admit (raises when the admission did not commit), then ring, best effort."""
        result = self.work.admit(event)
        ring(self.tasks, result)
        return result


class _KeysKept:
    """A replay memory that remembers, per thread, the keys it last claimed, so that an
    admission that fails can forget exactly that delivery."""

    def __init__(self, inner: SeenDeliveries) -> None:
        self.inner = inner
        self.local = threading.local()

    def claim(self, keys: Sequence[str], *, now: float, keep_until: float) -> bool:
        won = self.inner.claim(keys, now=now, keep_until=keep_until)
        self.local.keys = tuple(keys) if won else ()
        return won

    def release(self, keys: Sequence[str]) -> None:
        self.inner.release(keys)

    def last(self) -> tuple[str, ...]:
        keys: tuple[str, ...] = getattr(self.local, "keys", ())
        self.local.keys = ()
        return keys

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class RingingWebhookReceiver(WebhookReceiver):
    """A `WebhookReceiver` that admits ``message.received`` events in ``accept`` (before
    the answer) and rings for them in ``handle`` (after it); every other event is handled
    as by `WebhookReceiver`. Takes ``work`` (``admit``), ``tasks`` (from `install`) and the
    receiver's own options; a ``router`` is not taken (only a task claims a thread)."""

    def __init__(self, secrets: Any, *, work: Admits, tasks: Tasks, **options: Any) -> None:
        if options.get("router") is not None:
            raise TypeError("RingingWebhookReceiver routes through its tasks: pass no router")
        super().__init__(secrets, **options)
        self._keys = _KeysKept(self.replay_guard)
        self.replay_guard = self._keys
        self.work = work
        self.tasks = tasks
        self._admitted: dict[str, RouteReport] = {}
        self._admitted_lock = threading.Lock()

    def accept(self, raw_body: bytes, headers: Mapping[str, Any]) -> WebhookEvent:
        """Verify, then commit the admission of an inbound message; `DecisionNotKept`
        (answered 503, the delivery forgotten) when the admission failed."""
        self._keys.last()  # nothing left from an earlier delivery on this thread
        event = super().accept(raw_body, headers)
        keys = self._keys.last()
        if event.type != "message.received":
            return event
        try:
            result = self.work.admit(event)
        except Exception as error:  # whatever failed, the mail may not be in the database
            self._forget(keys)
            logger.warning("webhook %s (%s): admission failed", event.id, event.type)
            raise DecisionNotKept(_NOT_ADMITTED) from error
        with self._admitted_lock:
            self._admitted[_event_key(event)] = result
            while len(self._admitted) > _ADMITTED_LIMIT:  # never rung: the sweep finds them
                self._admitted.pop(next(iter(self._admitted)))
        return event

    def handle(self, event: WebhookEvent) -> HandledEvent:
        """`WebhookReceiver.handle`, then the bell for an event `accept` admitted, or for
        the parked run a decision made resumable."""
        handled = super().handle(event)
        if event.type in _DECIDING and not handled.errors:
            ring_resume(self.tasks, getattr(self.work, "pending", None), event)
        with self._admitted_lock:
            result = self._admitted.pop(_event_key(event), None)
        if result is None:
            return handled
        ring(self.tasks, result)
        return HandledEvent(handled.event, handled.woke, handled.late, result, handled.errors)


def ring_resume(tasks: Tasks, pending: Any, event: WebhookEvent) -> bool:
    """Enqueue ``resume_run`` for the parked run that waits on the decided email of
    ``event`` (its decision is recorded by then); True when sent. Without this bell a
    parked run would wait for the next sweep (``beat_every``). A run still waiting in its
    worker has no checkpoint yet: the database's NOTIFY wakes it there, and nothing rings.
    Best effort, after the answer: the sweep finds whatever this misses."""
    email_id = getattr(event, "email_id", None)
    if pending is None or not email_id:
        return False
    try:
        record = pending.get(email_id)
    except Exception as error:  # noqa: BLE001 -- best effort: the sweep finds the run
        logger.warning("webhook %s: no resume rung: %s", event.id, type(error).__name__)
        return False
    checkpoint_id = getattr(record, "checkpoint_id", None)
    if not checkpoint_id:
        return False
    return tasks.enqueue(tasks.resume_run, checkpoint_id)


def _event_key(event: WebhookEvent) -> str:
    return event.id or str(id(event))
