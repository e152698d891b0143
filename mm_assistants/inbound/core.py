"""What `InboundRouter` and `AsyncInboundRouter` share: configuration, the gate (trust
verdict, then the flood limits), admission to the route store, and reporting."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, ClassVar

from mm_assistants.drivers import RunOutcome, parking
from mm_assistants.drivers.seams import require_parts
from mm_assistants.inbound.fleet import (
    META_THREAD,
    ResumeAction,
    ResumeResult,
    continues_at,
    follow_sent,
    heartbeat_every,
    meta_thread,
    parked_checkpoint,
    responses_input,
)
from mm_assistants.inbound.flood import FloodGate, InboundLimits, queue_full
from mm_assistants.inbound.routing import (
    Admitted,
    Compose,
    RouteResult,
    inbound_message,
    notice,
    screen,
)
from mm_assistants.inbound.run_limit import run_limit
from mm_assistants.inbound.trust import TrustPolicy, TrustVerdict
from mm_assistants.state import InboundMessage, RouteStore, open_route_store
from mm_assistants.state.heartbeat import AsyncHeartbeat, Heartbeat
from mm_assistants.webhooks.events import WebhookEvent

# The name from before inbound left webhooks: logging configured for it keeps working.
logger = logging.getLogger("mm_assistants.webhooks")
OnOutcome = Callable[[str, RunOutcome], None]
#: A fencing token no claim carries (stores count tokens up from 1).
NO_CLAIM = 0
#: How many lapsed checkpoints are looked through for a thread's dead run.
LAPSED_SCAN = 100
Beat = Heartbeat | AsyncHeartbeat


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
        max_run_seconds: float | None = None,
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
        #: Seconds a run keeps its thread's claim alive (`run_limit`): past them the claim
        #: lapses, another worker may take the thread, and this run's writes are refused.
        self.max_run_seconds = run_limit(max_run_seconds, self.driver)

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

    def _admit(self, admitted: Admitted, message: InboundMessage) -> RouteResult | int | None:
        """Queue or claim: a `RouteResult`, or (the caller now owns the claimed thread) the
        token the claim came with (see `_claim_token`)."""
        admission = self.store.admit(admitted.key, admitted.mm_thread_id, message)
        email, mm_thread = admitted.email_id, admitted.mm_thread_id
        if admission == "queued":
            return RouteResult("queued", email, mm_thread, reason="the thread's run is active")
        if admission == "duplicate":
            return RouteResult("duplicate", email, mm_thread)
        return self._claim_token(mm_thread, admission)

    def _report(self, mm_thread: str, outcome: RunOutcome) -> None:
        logger.info("inbound thread %s: run %s ended %s", mm_thread, outcome.run_id, outcome.status)
        if self.on_outcome is not None:
            self.on_outcome(mm_thread, outcome)

    def _responses_input(self, messages: list[InboundMessage]) -> list[dict[str, str]]:
        return responses_input(messages)

    # -- claims across a fleet (store calls only; each shell awaits its own driver) -------

    def _run_options(self, mm_thread: str) -> dict[str, Any]:
        """The Responses run's options; a driver that parks learns the thread, so its
        checkpoint leads back here (`resume`)."""
        options = dict(self.run_params)
        if getattr(self.driver, "parking", None) is not None:
            options["checkpoint_meta"] = {META_THREAD: mm_thread}
        return options

    def _claim_token(self, mm_thread: str, taken: object) -> int | None:
        """The fencing token handed back with a claim this worker just took (`Claimed`,
        `ClaimedMessages`). A store that hands none back (written before tokens came with
        claims) is asked at once; there a worker pausing right here could adopt the claim
        of a worker that took the thread over meanwhile, which a token that comes with the
        claim rules out."""
        token = getattr(taken, "token", None)
        if isinstance(token, int) and not isinstance(token, bool):
            return token
        return self.store.token(mm_thread)

    def _claim_stalled(self, mm_thread: str) -> tuple[list[InboundMessage], int | None] | None:
        """The messages and claim token of a stalled thread this worker just claimed, or
        ``None``: another worker holds it, or nothing was queued (the claim is dropped)."""
        messages = self.store.claim(mm_thread)
        if messages is None:
            return None
        token = self._claim_token(mm_thread, messages)
        if not messages:
            if token is not None:
                self.store.finish(mm_thread, token=token)
            return None
        return list(messages), token

    def _own(self, mm_thread: str, messages: list[InboundMessage], token: int | None) -> int | None:
        """``token`` (of the claim this worker just took), or ``None`` when the claim lapsed
        before the run could start (this worker paused past its lease and another took the
        thread): the messages go back to the queue, for the thread's owner to run."""
        if token is not None and not self.store.heartbeat(mm_thread, token):
            token = None
        if token is None:
            self._lost(mm_thread)
            # a token no claim carries: the messages go back, nobody's claim is dropped
            self.store.release(mm_thread, messages, token=NO_CLAIM)
        return token

    def _heartbeat(self, mm_thread: str, token: int) -> Heartbeat:
        return Heartbeat(**self._beat_options(mm_thread, token))

    def _beat_options(self, mm_thread: str, token: int) -> dict[str, Any]:
        """How a run's heartbeat renews the claim, and when it gives the claim up."""
        store, limit = self.store, self.max_run_seconds

        def expired() -> None:
            # the thread id only: the messages are a stranger's words
            logger.warning(
                "inbound thread %s: the run passed max_run_seconds (%.0f s); its claim is"
                " given up for another worker to take",
                mm_thread,
                limit,
            )

        return {
            "renew": lambda: store.heartbeat(mm_thread, token),
            "every": heartbeat_every(store),
            "max_age": limit,
            "on_expired": expired,
        }

    def _lost(self, mm_thread: str) -> None:
        # the thread id only: the messages are a stranger's words
        logger.warning(
            "inbound thread %s: the claim was lost (another worker owns the thread now);"
            " this worker leaves it",
            mm_thread,
        )

    def _settle(
        self, mm_thread: str, token: int, outcome: RunOutcome, beat: Beat
    ) -> list[InboundMessage]:
        """After a run (or a resume) on a claimed thread: the messages to run next, or
        ``[]`` when this worker is done with the thread (it parked, it finished, or its
        claim was lost and another worker owns the thread). The fenced write is always
        tried, even when the heartbeat reported a loss: a renewal that failed may have been
        a blip while the claim stayed ours, and skipping the park would let the claim lapse
        with its mail taken, to be run a second time; a claim really lost refuses it."""
        del beat  # the token decides (see above); kept for the shells' signatures
        if not self.store.heartbeat(mm_thread, token):
            self._lost(mm_thread)
            return []
        checkpoint = parked_checkpoint(outcome)
        if checkpoint is not None:
            if self.store.park(mm_thread, token, checkpoint):
                logger.info(
                    "inbound thread %s: the run parked as %s; its mail is queued until it resumes",
                    mm_thread,
                    checkpoint,
                )
            else:
                self._lost(mm_thread)
            return []
        target = continues_at(outcome) if self.assistant_id is None else None
        if target is not None and not self.store.set_target(mm_thread, target, token=token):
            self._lost(mm_thread)  # taken over since the heartbeat: the chain is theirs
            return []
        return self.store.finish(mm_thread, token=token)

    def _locate(self, key: str) -> tuple[str, str] | ResumeResult:
        """``(mm_thread, checkpoint_id)`` of what ``key`` (a thread or a checkpoint id)
        names, or why there is nothing to resume."""
        checkpoint = self.store.parked(key)
        if checkpoint is not None:
            return key, checkpoint
        mm_thread = self._checkpoint_thread(key)
        if mm_thread is None:
            return ResumeResult(
                "not_parked", checkpoint_id=key, reason="no parked thread or checkpoint by that id"
            )
        return mm_thread, key

    def checkpoint_thread(self, checkpoint_id: str) -> str | None:
        """The MultiMail thread a checkpoint of this router's driver was taken for, or
        ``None`` (none, or a checkpoint this release cannot read)."""
        return self._checkpoint_thread(checkpoint_id)

    def _checkpoint_thread(self, checkpoint_id: str) -> str | None:
        """The thread a checkpoint of this router's driver was parked for, or ``None``."""
        parks = getattr(self.driver, "parking", None)
        checkpoint = None if parks is None else parks.store.get(checkpoint_id)
        if checkpoint is None:
            return None
        try:
            meta = parking.decode(checkpoint.record, checkpoint.format_version).meta
        except parking.CheckpointError:
            return None  # another release's, or unreadable: not one to resume here
        return meta_thread(meta)

    def _checkpoint_for_email(self, email_id: str) -> str | ResumeResult:
        """The checkpoint id of the parked run that waits for the held email ``email_id``."""
        pending = getattr(self.dispatcher, "approval_store", None)
        record = pending.get(email_id) if pending is not None else None
        if record is None:
            return ResumeResult("not_parked", reason="no pending record of that email")
        checkpoint = parking.resume_target(record)
        if checkpoint is None:
            return ResumeResult("not_parked", reason="the email's run did not park")
        return checkpoint

    def _take_parked(
        self, mm_thread: str, checkpoint: str
    ) -> tuple[int, list[InboundMessage]] | ResumeResult:
        """The claim and queued mail of a parked thread; a thread a resumer left unclaimed
        (it died mid-resume, its lease lapsed) is claimed again instead."""
        taken = self.store.unpark(mm_thread, checkpoint)
        if taken is not None:
            return taken
        queued = self.store.claim(mm_thread)  # None while anyone holds it, parked or live
        token = None if queued is None else self._claim_token(mm_thread, queued)
        if queued is not None and token is not None:
            return token, list(queued)
        return ResumeResult(
            "not_parked",
            mm_thread,
            checkpoint,
            reason="the thread is not parked there (another worker resumed it)",
        )

    def dead_run(self, mm_thread: str) -> str | None:
        """The checkpoint of a run on ``mm_thread`` whose claim lapsed with tool calls in
        flight (its worker died, or its drive raised: `Drive.abandon` lets the claim
        lapse), or ``None``. Only lapsed checkpoints are looked at (at most `LAPSED_SCAN`):
        give the driver a ``checkpoint_lease`` at most half the route store's lease, so a
        dead run's checkpoint lapses before its thread's claim does."""
        parks = getattr(self.driver, "parking", None)
        if parks is None:
            return None
        for checkpoint_id in parks.store.lapsed(LAPSED_SCAN):
            if self._checkpoint_thread(checkpoint_id) == mm_thread:
                return str(checkpoint_id)
        return None

    def _lapsed_runs(self) -> list[str]:
        """Checkpoints of this driver's runs whose claim lapsed (a worker died, or a drive
        raised, with the run in hand), for `drain` to re-attach to."""
        parks = getattr(self.driver, "parking", None)
        return [] if parks is None else [str(c) for c in parks.store.lapsed(LAPSED_SCAN)]

    def _run_failed(self, mm_thread: str, messages: list[InboundMessage], token: int) -> None:
        """A run raised. When it left a checkpoint with calls in flight (a send may have
        gone out before a time limit or an OpenAI error stopped it), the thread parks on
        that checkpoint: a sweep lists the lapsed checkpoint and re-attaches to the run
        (same call ids), and the mail, in the run already, is not run from scratch (a
        second reply). Otherwise the messages go back to the queue (`RouteStore.release`,
        which counts an attempt: a run that raises every time ends ``failed``)."""
        checkpoint = self.dead_run(mm_thread)
        if checkpoint is not None and self.store.park(mm_thread, token, checkpoint):
            logger.warning(
                "inbound thread %s: the run raised with calls in flight; parked as %s to be"
                " re-attached",
                mm_thread,
                checkpoint,
            )
            return
        self.store.release(mm_thread, messages, token=token)

    def _resume_failed(
        self, mm_thread: str, checkpoint: str, token: int, queued: list[InboundMessage]
    ) -> None:
        """A resume raised: the run was not driven on, so the thread parks again as
        ``checkpoint`` (a `drain` must not start a new run beside the checkpoint: its
        function calls would stay unanswered and the conversation fork), and the mail
        taken with the claim goes back ahead of what arrived meanwhile. A claim lost
        meanwhile is left to its new owner (the mail goes back either way)."""
        if not self.store.park(mm_thread, token, checkpoint):
            self._lost(mm_thread)
        self.store.release(mm_thread, queued, token=token)

    def _after_resume(
        self,
        mm_thread: str,
        checkpoint: str,
        token: int,
        queued: list[InboundMessage],
        outcome: RunOutcome,
        beat: Beat,
    ) -> tuple[ResumeResult, list[InboundMessage]]:
        """The result of a resume, and the messages to run next on the thread; the
        outcomes in the result are reported (``on_outcome``)."""
        result, follow = self._resume_settle(mm_thread, checkpoint, token, queued, outcome, beat)
        for reported in result.outcomes:
            self._report(mm_thread, reported)
        return result, follow

    def _resume_settle(
        self,
        mm_thread: str,
        checkpoint: str,
        token: int,
        queued: list[InboundMessage],
        outcome: RunOutcome,
        beat: Beat,
    ) -> tuple[ResumeResult, list[InboundMessage]]:
        """`_after_resume`'s store writes alone (nothing reported: a shell may run this
        in a worker thread and report on its own)."""
        if follow_sent(outcome, checkpoint):
            follow = self._settle(mm_thread, token, outcome, beat)
            return ResumeResult("resumed", mm_thread, checkpoint, outcomes=(outcome,)), follow
        if outcome.status in ("busy", "parked"):
            # Another resumer drives the run, or a decision is missing: the thread stays
            # parked (resume again later) and the mail goes back to its queue (release
            # keeps a parked claim).
            if not self.store.park(mm_thread, token, checkpoint):
                self._lost(mm_thread)
            self.store.release(mm_thread, queued, token=token)
            held: ResumeAction = "busy" if outcome.status == "busy" else "parked"
            return ResumeResult(held, mm_thread, checkpoint), []
        # The run is over without the mail (finished elsewhere, or fell back to the
        # late-decision message): the mail starts the thread's next run.
        reported = () if outcome.status == "gone" else (outcome,)
        if not self.store.heartbeat(mm_thread, token):  # fenced: see _settle
            self._lost(mm_thread)
            self.store.release(mm_thread, queued, token=token)
            return ResumeResult("gone", mm_thread, checkpoint, outcomes=reported), []
        target = continues_at(outcome)
        if target is not None and not self.store.set_target(mm_thread, target, token=token):
            self._lost(mm_thread)
            self.store.release(mm_thread, queued, token=token)
            return ResumeResult("gone", mm_thread, checkpoint, outcomes=reported), []
        follow = queued or self.store.finish(mm_thread, token=token)
        action: ResumeAction = "gone" if outcome.status == "gone" else "resumed"
        return ResumeResult(action, mm_thread, checkpoint, outcomes=reported), follow


def _text(value: Any) -> str | None:
    if isinstance(value, Mapping):  # {"email": ..., "name": ...}
        value = value.get("email") or value.get("address")
    return value if isinstance(value, str) and value else None
