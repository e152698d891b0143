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
forgotten by the replay memory, so MultiMail's retry is taken. A *replayed*
``message.received`` (answered 200 ``duplicate``) is admitted again before that answer:
the replay memory and the admission are two transactions, and a web process killed
between them (a deploy, an OOM), or one whose admission outlived MultiMail's timeout,
would otherwise have the retry dropped and the mail lost. The admission is idempotent by
the route store's own delivery key, so this costs one lookup when nothing was lost; what it
admits (or finds admitted) is rung. A replayed decision is kept again (`WebhookReceiver`)
and rings its parked run too.

`accept` does database and MultiMail I/O, so the receiver reports ``shares_decisions``
even without a fleet hub: the framework adapters then run it off the event loop.

`AdmitAndRing` is the same pair of steps for a view of your own that answers after
``admit``; it is not a ``router=`` (a receiver's ``handle`` runs after the answer, where a
failed admission could no longer be answered 503), and a receiver given it as one refuses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from mm_assistants.celery.tasks import Tasks
from mm_assistants.state import SeenDeliveries
from mm_assistants.webhooks import HandledEvent, WebhookEvent, WebhookReceiver
from mm_assistants.webhooks.events import parse_event
from mm_assistants.webhooks.receiver import DecisionNotKept, RouteReport
from mm_assistants.webhooks.verify import EVENT_HEADER

logger = logging.getLogger("mm_assistants.celery")

#: How many admitted events wait for their ``handle`` at most (a caller that only accepts).
_ADMITTED_LIMIT = 10_000
#: Decisions that may make a parked run resumable.
_DECIDING = frozenset({"oversight.approved", "oversight.rejected"})
_NOT_A_ROUTER = (
    "AdmitAndRing is not a receiver's router=: a router runs after the answer, where a failed"
    " admission is lost; use RingingWebhookReceiver, or call AdmitAndRing.admit(event) in"
    " your own view before answering"
)
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
    """Admit, then ring, in a view of your own, before it answers MultiMail::

        event = receiver.accept(body, headers)       # a receiver with no router
        AdmitAndRing(work, tasks).admit(event)       # raises: answer 503
        return 200

    Not a ``router=``: a receiver runs its router in ``handle``, after the answer, where
    an admission that fails is swallowed and the mail lost. Handed to one it refuses."""

    def __init__(self, work: Admits, tasks: Tasks) -> None:
        self.work = work
        self.tasks = tasks

    def __repr__(self) -> str:
        return f"AdmitAndRing(queue={self.tasks.queue!r})"

    def admit(self, event: WebhookEvent) -> RouteReport:
        """Admit (raises when the admission did not commit), then ring, best effort."""
        result = self.work.admit(event)
        ring(self.tasks, result)
        return result

    def route(self, event: WebhookEvent) -> RouteReport:
        """Refused: see the class docstring (a receiver calls this after its answer)."""
        raise TypeError(_NOT_A_ROUTER)

    @property
    def assistant_id(self) -> str:
        # A receiver reads its router's ``assistant_id`` at construction (to find a driver
        # for late decisions): the one moment a misuse as ``router=`` can be refused.
        raise TypeError(_NOT_A_ROUTER)


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

    @property
    def shares_decisions(self) -> bool:
        """True: `accept` writes the admission to the database (and the router's gate may
        call MultiMail), so the framework adapters must run it off the event loop, as they
        do for a fleet hub's decisions."""
        return True

    def _keep_again(self, raw_body: bytes, headers: Mapping[str, Any]) -> None:
        """Before a replay is answered 200 ``duplicate``: a decision is kept again
        (`WebhookReceiver`) and rings its parked run; an inbound message is admitted again
        (idempotent by its delivery key) and rung, since the first delivery's process may
        have died between the replay memory's write and the admission. `DecisionNotKept`
        (503) when that admission fails."""
        super()._keep_again(raw_body, headers)
        try:
            event = parse_event(raw_body, event_type=_event_header(headers))
        except ValueError:
            return  # nothing in it to admit
        if event.type in _DECIDING:
            ring_resume(self.tasks, getattr(self.work, "pending", None), event)
            return
        if event.type != "message.received":
            return
        try:
            result = self.work.admit(event)
        except Exception as error:  # whatever failed, the mail may not be in the database
            logger.warning("webhook %s (%s): replay not admitted", event.id, event.type)
            raise DecisionNotKept(_NOT_ADMITTED) from error
        # Committed: ring now (a duplicate has no `handle` after its answer). A mail found
        # admitted already is rung too: its first process may have died before its bell.
        key = ring_key(result) or (result.mm_thread_id if result.action == "duplicate" else None)
        if key is not None:
            self.tasks.enqueue(self.tasks.route_inbound, key)

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


def _event_header(headers: Mapping[str, Any]) -> str | None:
    """The delivery's event header (any case), as the base receiver reads it."""
    wanted = EVENT_HEADER.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == wanted), None)
