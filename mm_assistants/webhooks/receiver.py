"""`WebhookReceiver`: everything a backend does with a MultiMail webhook delivery.

Two halves, so a web handler can answer before the work is done::

    receiver = WebhookReceiver("whsec_…", hub=hub, router=router)
    event = receiver.accept(body, request.headers)   # fast: verify + parse, or raise
    ...answer 200...
    receiver.handle(event)                            # slow: wake waits, route, post

`accept` raises `WebhookVerificationError` (answer 401, or 413 for ``too_large``) or
`WebhookPayloadError` (400). A replay of a delivery already accepted raises
`DuplicateDelivery` (answer 200: MultiMail must stop retrying it). `handle` never raises:
each part's failure is logged and listed in ``HandledEvent.errors``.

With a fleet hub (an `ApprovalHub` given a ``decisions`` store, e.g. on PostgreSQL), an
oversight decision is recorded for the fleet inside `accept`, *before* the answer: a 2xx
then means every process can read the decision. When the store cannot record it (or
anything else goes wrong while feeding the hub), `accept` forgets the delivery (so
MultiMail's retry is taken) and raises `DecisionNotKept` (answer 503: MultiMail retries
later). A replay of an accepted decision is recorded again when the store does not hold a
decision for that email (a process killed between remembering the delivery and recording
the decision must not turn the retry into a lost decision), and `DecisionNotKept` is
raised when the store cannot be read or written. `handle` does not publish an event this
receiver's `accept` already recorded.

What `handle` does with an event:

- ``oversight.approved``/``oversight.rejected``: wakes the waits following that email
  through the `ApprovalHub` (no status poll needed), then, when a run already ended with
  that email still pending, posts the decision to its thread (``late_decisions``: an
  Assistants driver; by default the router's).
- ``message.received``: hands it to the router (``router.route(event)``), typically an
  `mm_assistants.inbound.InboundRouter`. The receiver knows a router only by the
  `EventRouter` protocol (`AsyncEventRouter` for `AsyncWebhookReceiver`), so this package
  never loads inbound routing, the drivers or the dispatcher.
- every event: ``on_event(event)`` when given.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from mm_assistants.approvals import ApprovalHub, ApprovalOutcome
from mm_assistants.approvals.watch import decisive
from mm_assistants.state import SeenDeliveries, open_seen_store
from mm_assistants.webhooks.events import OversightEvent, WebhookEvent, parse_event
from mm_assistants.webhooks.feed import decision_record, feed_hub
from mm_assistants.webhooks.freshness import DEFAULT_TOLERANCE
from mm_assistants.webhooks.verify import (
    DEFAULT_MAX_BODY,
    EVENT_HEADER,
    WebhookVerificationError,
    secret_keys,
    verify_signature,
)

logger = logging.getLogger("mm_assistants.webhooks")
#: How many accepted-but-not-yet-handled events remember that `accept` fed the hub.
_EARLY_LIMIT = 10_000


class RouteReport(Protocol):
    """What a router says it did with an event (`mm_assistants.inbound.RouteResult` is
    one): ``action`` such as ``started``, ``queued``, ``held``, ``duplicate``, ``ignored``."""

    @property
    def action(self) -> str: ...

    @property
    def email_id(self) -> str | None: ...

    @property
    def mm_thread_id(self) -> str | None: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def outcomes(self) -> tuple[Any, ...]: ...


class EventRouter(Protocol):
    """What `WebhookReceiver` calls on its ``router`` (`mm_assistants.inbound.InboundRouter`
    is one). A router that also has ``assistant_id`` and ``driver`` attributes lends its
    driver to late decisions (see `ReceiverCore`)."""

    def route(self, event: WebhookEvent) -> RouteReport:
        """Act on one accepted event; the receiver logs and lists what it raises."""
        ...


class AsyncEventRouter(Protocol):
    """`EventRouter` for `AsyncWebhookReceiver` (`mm_assistants.inbound.AsyncInboundRouter`
    is one): ``route`` is awaited."""

    def route(self, event: WebhookEvent) -> Awaitable[RouteReport]:
        """Act on one accepted event; the receiver logs and lists what it raises."""
        ...


RouterT = TypeVar("RouterT", EventRouter, AsyncEventRouter)


class HiddenSecrets(tuple[bytes, ...]):
    """The signing keys, with a repr that shows how many there are and nothing else."""

    def __repr__(self) -> str:
        return f"<{len(self)} webhook secret(s)>"


class DuplicateDelivery(Exception):
    """A correctly signed delivery that was accepted before (answer 2xx, do nothing)."""


class DecisionNotKept(Exception):
    """A correctly signed oversight decision that the fleet's decision store could not
    record (answer 503 so that MultiMail delivers it again; the delivery was forgotten)."""


@dataclass(frozen=True)
class HandledEvent:
    """What `WebhookReceiver.handle` did: ``woke`` approval waits, the ``late`` decision
    posted to an ended run's thread, the router's ``route`` result, and ``errors`` (one
    line per part that failed; the event is not lost: see the router's queue and
    ``resolve_pending``)."""

    event: WebhookEvent
    woke: bool = False
    late: ApprovalOutcome | None = None
    route: RouteReport | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)


class ReceiverCore(Generic[RouterT]):
    """Verification and configuration shared by `WebhookReceiver` and
    `AsyncWebhookReceiver`.

    ``router`` gets each event (see `EventRouter`); ``late_decisions`` (default: the
    router's driver when the router drives Assistants threads) posts a decision that
    arrives after its run ended.

    The replay memory, ``replay_guard``, is a `SeenDeliveries` store or the path of a SQLite
    file; by default it is the SQLite file at `mm_assistants.state.default_seen_path` (set
    ``MM_ASSISTANTS_STATE_DIR`` to move it), so a delivery is accepted once even across a
    restart or by several worker processes of one host. Pass a shared store for several
    hosts, or ``MemorySeenStore()`` for a receiver that may forget at exit (tests).
    ``tolerance`` (seconds, default one hour) bounds the age of the signed body's timestamp;
    ``require_timestamp=False`` accepts bodies that carry none (see
    `mm_assistants.webhooks.freshness`). ``clock`` (unix seconds) is what "now" means there.
    """

    def __init__(
        self,
        secrets: str | bytes | Sequence[str | bytes],
        *,
        hub: ApprovalHub | None = None,
        router: RouterT | None = None,
        late_decisions: Any = None,
        on_event: Callable[[WebhookEvent], Any] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        tolerance: float | None = DEFAULT_TOLERANCE,
        require_timestamp: bool = True,
        replay_guard: SeenDeliveries | str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # A missing or empty secret fails here, at construction, not on the first delivery.
        self._secrets = HiddenSecrets(secret_keys(secrets))
        self.hub = hub
        self.router: RouterT | None = router
        self.late_decisions = late_decisions if late_decisions is not None else _driver_of(router)
        self.on_event = on_event
        self.max_body = max_body
        self.tolerance = tolerance
        self.require_timestamp = require_timestamp
        self.replay_guard = open_seen_store(replay_guard)
        self.clock = clock
        # events whose decision `accept` already recorded for the fleet (bounded); a
        # threaded server runs `accept` and `handle` concurrently: always under the lock
        self._woke_early: dict[str, bool] = {}
        self._early_lock = threading.Lock()

    def __repr__(self) -> str:
        parts = [name for name in ("hub", "router", "late_decisions") if getattr(self, name)]
        return f"{type(self).__name__}(with={parts})"

    def accept(self, raw_body: bytes, headers: Mapping[str, Any]) -> WebhookEvent:
        """Verify and parse one delivery (see the module docstring for what it raises)."""
        try:
            delivery = verify_signature(
                raw_body,
                headers,
                self._secrets,
                max_body=self.max_body,
                tolerance=self.tolerance,
                require_timestamp=self.require_timestamp,
                replay_guard=self.replay_guard,
                clock=self.clock,
            )
        except WebhookVerificationError as error:
            if error.reason == "replayed":
                # signed and fresh (checked before the replay memory): safe to read
                self._keep_again(raw_body, headers)
                raise DuplicateDelivery(str(error)) from None
            raise
        try:
            event = parse_event(raw_body, event_type=delivery.event)
        except ValueError:
            self.replay_guard.release(delivery.replay_keys)  # a fixed resend is welcome
            raise
        hub = self.hub
        if self.shares_decisions and hub is not None:
            try:
                woke = feed_hub(hub, event)
            except Exception as error:  # whatever failed, the decision may not be kept
                self._forget(delivery.replay_keys)
                logger.warning("webhook %s (%s): decision not recorded", event.id, event.type)
                raise DecisionNotKept(_NOT_KEPT) from error
            if event.id is not None:  # without an id, handle publishes again: harmless
                with self._early_lock:
                    self._woke_early[event.id] = woke
                    while len(self._woke_early) > _EARLY_LIMIT:
                        self._woke_early.pop(next(iter(self._woke_early)))
        return event

    @property
    def shares_decisions(self) -> bool:
        """True when the hub records decisions for a fleet (it has a ``decisions`` store):
        `accept` then writes to that store before answering."""
        return self.hub is not None and getattr(self.hub, "decisions", None) is not None

    def _forget(self, keys: tuple[str, ...]) -> None:
        try:
            self.replay_guard.release(keys)
        except Exception as error:  # noqa: BLE001 -- the retry is then a duplicate, recorded again
            logger.warning("could not forget a webhook delivery (%s)", type(error).__name__)

    def _keep_again(self, raw_body: bytes, headers: Mapping[str, Any]) -> None:
        """Before a duplicate of a fleet decision is answered 200, make sure the decision is
        in the store: the first delivery may have been remembered by a process killed
        before it recorded the decision. A decision the store already holds for that email
        is left alone (it may be a later, more accurate one); `DecisionNotKept` when the
        store fails."""
        hub = self.hub
        store = getattr(hub, "decisions", None)
        if hub is None or store is None:
            return
        try:
            event = parse_event(raw_body, event_type=_header(headers, EVENT_HEADER))
        except ValueError:
            return  # no decision in it to keep
        if not isinstance(event, OversightEvent) or not _decides(event):
            return
        if event.email_id is None:
            return
        try:
            stored = store.get_many([event.email_id]).get(event.email_id)
            if stored is None or not decisive(stored):
                feed_hub(hub, event)
        except Exception as error:  # whatever failed, the decision may not be kept
            logger.warning("webhook %s (%s): decision not recorded", event.id, event.type)
            raise DecisionNotKept(_NOT_KEPT) from error

    def _wake(self, event: WebhookEvent, errors: list[str]) -> bool:
        if event.id is not None:
            with self._early_lock:
                early = self._woke_early.pop(event.id, None)
            if early is not None:  # fed before the answer
                return early
        if self.hub is None:
            return False
        try:
            return feed_hub(self.hub, event)
        except Exception as error:  # noqa: BLE001 -- handle() never raises: see HandledEvent.errors
            errors.append(_failure("hub", event, error))
            return False

    def _late_target(self, event: WebhookEvent) -> tuple[str, dict[str, Any]] | None:
        if self.late_decisions is None or not isinstance(event, OversightEvent):
            return None
        if event.decision == "pending" or event.email_id is None:
            return None
        if not hasattr(self.late_decisions, "resolve_decision"):
            return None
        return event.email_id, decision_record(event)

    def _callback(self, event: WebhookEvent, errors: list[str]) -> Any:
        if self.on_event is None:
            return None
        try:
            return self.on_event(event)
        except Exception as error:  # noqa: BLE001 -- handle() never raises: see HandledEvent.errors
            errors.append(_failure("on_event", event, error))
            return None


class WebhookReceiver(ReceiverCore[EventRouter]):
    """Verifies deliveries and acts on them with blocking I/O (an `InboundRouter`, an
    `AssistantsRunDriver` for late decisions). Options: ``hub``, ``router``,
    ``late_decisions``, ``on_event``, ``max_body``, ``tolerance``, ``require_timestamp``,
    ``replay_guard`` (see `ReceiverCore`)."""

    def handle(self, event: WebhookEvent) -> HandledEvent:
        """Act on an accepted event; never raises (failures land in ``errors``)."""
        errors: list[str] = []
        woke = self._wake(event, errors)
        late = None
        target = self._late_target(event)
        if target is not None:
            try:
                late = self.late_decisions.resolve_decision(*target)
            except Exception as error:  # noqa: BLE001 -- handle() never raises: see HandledEvent.errors
                errors.append(_failure("late decision", event, error))
        route = None
        if self.router is not None:
            try:
                route = self.router.route(event)
            except Exception as error:  # noqa: BLE001 -- handle() never raises: see HandledEvent.errors
                errors.append(_failure("router", event, error))
        self._callback(event, errors)
        return HandledEvent(event, woke, late, route, tuple(errors))

    def receive(self, raw_body: bytes, headers: Mapping[str, Any]) -> HandledEvent:
        """`accept` then `handle`, for a caller with no reason to split them."""
        return self.handle(self.accept(raw_body, headers))


class AsyncWebhookReceiver(ReceiverCore[AsyncEventRouter]):
    """`WebhookReceiver` for asyncio: an `AsyncInboundRouter` and an
    `AsyncAssistantsRunDriver`; ``on_event`` may be a coroutine function."""

    async def handle(self, event: WebhookEvent) -> HandledEvent:
        """Act on an accepted event; never raises (failures land in ``errors``)."""
        errors: list[str] = []
        if self.shares_decisions:  # the store's I/O must not block the event loop
            woke = await asyncio.to_thread(self._wake, event, errors)
        else:
            woke = self._wake(event, errors)
        late = None
        target = self._late_target(event)
        if target is not None:
            try:
                late = await self.late_decisions.resolve_decision(*target)
            except Exception as error:  # noqa: BLE001 -- handle() never raises: see HandledEvent.errors
                errors.append(_failure("late decision", event, error))
        route = None
        if self.router is not None:
            try:
                route = await self.router.route(event)
            except Exception as error:  # noqa: BLE001 -- handle() never raises: see HandledEvent.errors
                errors.append(_failure("router", event, error))
        pending = self._callback(event, errors)
        if pending is not None and hasattr(pending, "__await__"):
            try:
                await pending
            except Exception as error:  # noqa: BLE001 -- handle() never raises: see HandledEvent.errors
                errors.append(_failure("on_event", event, error))
        return HandledEvent(event, woke, late, route, tuple(errors))

    async def receive(self, raw_body: bytes, headers: Mapping[str, Any]) -> HandledEvent:
        """`accept` then `handle`."""
        return await self.handle(self.accept(raw_body, headers))


_NOT_KEPT = (
    "the decision could not be recorded for the fleet; answer 503 so that MultiMail delivers"
    " it again"
)


def _decides(event: WebhookEvent) -> bool:
    return isinstance(event, OversightEvent) and event.decision != "pending"


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted and isinstance(value, str) and value:
            return value
    return None


def _driver_of(router: Any) -> Any:
    # Late decisions go to Assistants threads; a Responses chain has no thread to post to.
    if router is None or getattr(router, "assistant_id", None) is None:
        return None
    return getattr(router, "driver", None)


def _failure(part: str, event: WebhookEvent, error: Exception) -> str:
    logger.warning("webhook %s (%s): %s failed: %s", event.id, event.type, part, error)
    return f"{part}: {type(error).__name__}: {error}"
