"""What `InboundRouter` and `AsyncInboundRouter` share: configuration, the gate (trust
verdict, then the flood limits), admission to the route store, and reporting."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, ClassVar

from mm_assistants.drivers import RunOutcome
from mm_assistants.drivers.seams import require_parts
from mm_assistants.inbound.flood import FloodGate, InboundLimits, queue_full
from mm_assistants.inbound.routing import (
    Admitted,
    Compose,
    RouteResult,
    inbound_message,
    notice,
    screen,
)
from mm_assistants.inbound.trust import TrustPolicy, TrustVerdict
from mm_assistants.state import InboundMessage, RouteStore, open_route_store
from mm_assistants.webhooks.events import WebhookEvent

# The name from before inbound left webhooks: logging configured for it keeps working.
logger = logging.getLogger("mm_assistants.webhooks")
OnOutcome = Callable[[str, RunOutcome], None]


class RouterCore:
    """Configuration and the decisions both routers share; subclasses do the I/O."""

    #: Whether the subclass awaits its parts, and the class to use for the other kind
    #: (parts of the other kind are a TypeError at construction, not at the first email).
    asynchronous: ClassVar[bool] = False
    twin: ClassVar[str] = ""

    def __init__(
        self,
        openai_client: Any,
        dispatcher: Any,
        *,
        assistant_id: str | None = None,
        model: str | None = None,
        instructions: str | None = None,
        driver: Any = None,
        store: RouteStore | str | Path | None = None,
        trust: TrustPolicy | None = None,
        compose: Compose = notice,
        background: bool = False,
        run_params: Mapping[str, Any] | None = None,
        on_outcome: OnOutcome | None = None,
        limits: InboundLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (assistant_id is None) == (model is None):
            raise ValueError(
                "pass assistant_id= (Assistants threads) or model= (Responses), exactly one"
            )
        if not isinstance(background, bool):
            raise TypeError(f"background is True or False, not {background!r}")
        if self.twin:
            require_parts(
                type(self).__name__,
                openai_client,
                dispatcher,
                asynchronous=self.asynchronous,
                twin=self.twin,
            )
        self.openai = openai_client
        self.dispatcher = dispatcher
        self.assistant_id = assistant_id
        self.model = model
        self.instructions = instructions
        self.store = open_route_store(store)
        self.trust = trust if trust is not None else TrustPolicy()
        self.limits = limits if limits is not None else InboundLimits()
        self.flood = FloodGate(self.limits, clock=clock)
        self.compose = compose
        self.background = background
        self.run_params = dict(run_params or {})
        self.on_outcome = on_outcome
        self.driver = driver if driver is not None else self._default_driver()

    def __repr__(self) -> str:
        target = (
            f"assistant_id={self.assistant_id!r}" if self.assistant_id else f"model={self.model!r}"
        )
        return (
            f"{type(self).__name__}({target}, store={self.store!r}, background={self.background})"
        )

    def _default_driver(self) -> Any:
        raise NotImplementedError  # each shell picks its own driver class

    @property
    def _allowed(self) -> Collection[str] | None:
        allowed: Collection[str] | None = getattr(self.dispatcher, "allowed_mailboxes", None)
        return allowed

    def first_look(self, event: WebhookEvent) -> RouteResult | Admitted:
        """The screen and the duplicate check, before any I/O."""
        admitted = screen(event, self._allowed)
        if isinstance(admitted, RouteResult):
            return admitted
        if self.store.seen(admitted.key):
            return RouteResult("duplicate", admitted.email_id, admitted.mm_thread_id)
        return admitted

    def _gate(self, admitted: Admitted, email: Mapping[str, Any] | None) -> TrustVerdict:
        """The trust verdict; for a trusted email, then the queue bound (background only)
        and the per-sender and per-thread rate limits. Any refusal holds the email."""
        verdict = self.trust.judge(admitted.event, email)
        if not verdict.trusted:
            return verdict
        if self.background:
            full = queue_full(self._pending(), self.limits)
            if full is not None:
                return TrustVerdict(trusted=False, reasons=(full,))
        sender = admitted.event.from_ or _text((email or {}).get("from"))
        limited = self.flood.admit(sender, admitted.mm_thread_id)
        if limited is not None:
            return TrustVerdict(trusted=False, reasons=(limited,))
        return verdict

    def _pending(self) -> int:
        """How many background runs are waiting or running (each shell counts its own)."""
        raise NotImplementedError

    def _after_gate(
        self, admitted: Admitted, verdict: TrustVerdict
    ) -> RouteResult | InboundMessage:
        if not verdict.trusted:
            return RouteResult(
                "held", admitted.email_id, admitted.mm_thread_id, reason=verdict.reason
            )
        return inbound_message(admitted, self.compose)

    def _admit(self, admitted: Admitted, message: InboundMessage) -> RouteResult | None:
        """Queue or claim; ``None`` when the caller now owns a claimed thread."""
        admission = self.store.admit(admitted.key, admitted.mm_thread_id, message)
        if admission == "claimed":
            return None
        reason = "the thread's run is active" if admission == "queued" else None
        return RouteResult(admission, admitted.email_id, admitted.mm_thread_id, reason=reason)

    def _report(self, mm_thread: str, outcome: RunOutcome) -> None:
        logger.info("inbound thread %s: run %s ended %s", mm_thread, outcome.run_id, outcome.status)
        if self.on_outcome is not None:
            self.on_outcome(mm_thread, outcome)

    def _responses_input(self, messages: list[InboundMessage]) -> list[dict[str, str]]:
        return [{"role": "user", "content": message.text} for message in messages]


def _text(value: Any) -> str | None:
    if isinstance(value, Mapping):  # {"email": ..., "name": ...}
        value = value.get("email") or value.get("address")
    return value if isinstance(value, str) and value else None
