"""What the Assistants drivers share: configuration, per-run state, and the pure steps
between I/O (choosing the next action, reading stream events, building the outcome)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal

from mm_assistants import _validate
from mm_assistants._sunset import warn_once
from mm_assistants.approvals import ApprovalOutcome, ApprovalPolicy, PendingRecord, PendingStore
from mm_assistants.approvals.store import holding
from mm_assistants.dispatch import ToolCall, ToolResult, calls_from_run
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.seams import DispatcherT, OpenAIT, require_parts
from mm_assistants.drivers.steps import (
    WORKING_STATUSES,
    Action,
    OnRequiresAction,
    PollPolicy,
    is_terminal,
    next_action,
)

Mode = Literal["poll", "stream"]
#: After asking a run to cancel, how long to keep looking for it to stop.
CANCEL_GRACE = 30.0
LATE_DECISION_PREFIX = "[MultiMail] "


@dataclass
class RunState:
    """Everything a driver tracks about one run while it drives it."""

    started: float
    deadline: float | None
    thread_id: str | None = None
    run: Any = None
    hint: str | None = None
    polls: int = 0
    steps: int = 0
    results: list[ToolResult] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)
    streamed: bool = False
    cancel_event: threading.Event = field(default_factory=threading.Event)
    cancel_sent_at: float | None = None
    wake: Callable[[], None] | None = None
    turn_started: float | None = None  # when the current model turn began (create/submit)
    last_turn: float | None = None  # how long the previous model turn took

    @property
    def status(self) -> str:
        return str(getattr(self.run, "status", "queued"))

    def request_cancel(self) -> None:
        self.cancel_event.set()
        if self.wake is not None:
            self.wake()


class AssistantsDriverCore(Generic[OpenAIT, DispatcherT]):
    """Configuration and decisions of the Assistants drivers; subclasses do the I/O.

    Each subclass is typed with its parts' kind (``OpenAI`` and `Dispatcher`, or
    ``AsyncOpenAI`` and `AsyncDispatcher`); parts of the other kind are a `TypeError` here.
    """

    #: Whether the subclass awaits its parts, and the class to use for the other kind.
    asynchronous: ClassVar[bool] = False
    twin: ClassVar[str] = ""

    def __init__(
        self,
        openai_client: OpenAIT,
        dispatcher: DispatcherT,
        *,
        mode: Mode = "poll",
        approvals: ApprovalPolicy | None = None,
        poll: PollPolicy | None = None,
        deadline: float | None = None,
        on_requires_action: OnRequiresAction = "dispatch",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mode not in ("poll", "stream"):
            raise ValueError(f"mode must be 'poll' or 'stream', not {mode!r}")
        if on_requires_action not in ("dispatch", "return"):
            raise ValueError("on_requires_action must be 'dispatch' or 'return'")
        name = type(self).__name__
        _validate.optional_number(name, "deadline", deadline, above=True)  # seconds
        if self.twin:
            require_parts(
                name, openai_client, dispatcher, asynchronous=self.asynchronous, twin=self.twin
            )
        warn_once(stacklevel=3)  # warn_once, this __init__, then the caller's line
        self.openai: OpenAIT = openai_client
        self.dispatcher: DispatcherT = dispatcher
        self.mode: Mode = mode
        self.approvals = approvals if approvals is not None else ApprovalPolicy()
        self.poll = poll if poll is not None else PollPolicy()
        self.deadline = deadline
        self.on_requires_action: OnRequiresAction = on_requires_action
        self._clock = clock
        self._states: dict[int, RunState] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mode={self.mode!r}, approvals={self.approvals!r})"

    def cancel(self) -> None:
        """Cancel every run this driver is driving now (server-side too)."""
        with self._lock:
            states = list(self._states.values())
        for state in states:
            state.request_cancel()

    # -- per-run bookkeeping ------------------------------------------------------------

    def new_state(self, thread_id: str | None = None) -> RunState:
        now = self._clock()
        deadline = now + self.deadline if self.deadline is not None else None
        state = RunState(started=now, deadline=deadline, thread_id=thread_id, turn_started=now)
        with self._lock:
            self._states[id(state)] = state
        return state

    def forget(self, state: RunState) -> None:
        with self._lock:
            self._states.pop(id(state), None)

    def next_for(self, state: RunState) -> Action:
        now = self._clock()
        if state.cancel_sent_at is not None:
            if now - state.cancel_sent_at > CANCEL_GRACE and not is_terminal(state.status):
                # The run never confirmed the cancel: stop looking and call it cancelled.
                return next_action(
                    "cancelled", polls=0, hint_ms=None, policy=self.poll, now=now, deadline=None
                )
            return next_action(
                state.status,
                polls=state.polls,
                hint_ms=state.hint,
                policy=self.poll,
                now=now,
                deadline=None,
            )
        return next_action(
            state.status,
            polls=state.polls,
            hint_ms=state.hint,
            policy=self.poll,
            now=now,
            deadline=state.deadline,
            cancel_requested=state.cancel_event.is_set(),
            on_requires_action=self.on_requires_action,
            last_turn=state.last_turn,
        )

    def calls_of(self, state: RunState) -> list[ToolCall]:
        expires_at = getattr(state.run, "expires_at", None)
        limits = [value for value in (expires_at, state.deadline) if value is not None]
        return calls_from_run(
            state.run, deadline=min(limits) if limits else None, cancel=state.cancel_event
        )

    def absorb(self, state: RunState, run: Any, hint: str | None) -> None:
        state.run = run
        state.hint = hint
        state.thread_id = getattr(run, "thread_id", state.thread_id)
        if state.turn_started is not None and state.status not in WORKING_STATUSES:
            # The model's turn is over (found by this look): remember how long it took.
            state.last_turn = self._clock() - state.turn_started
            state.turn_started = None

    def expired(self, state: RunState) -> bool:
        """Whether the run's ``expires_at`` has passed: its outputs would be refused."""
        expires_at = getattr(state.run, "expires_at", None)
        return isinstance(expires_at, (int, float)) and self._clock() >= expires_at

    def unsubmitted(
        self, state: RunState, results: Iterable[ToolResult]
    ) -> list[tuple[PendingRecord, ApprovalOutcome]]:
        """Decisions a step waited for whose outputs will never reach the run (it expired):
        recorded again, so `resolve_pending` delivers them if posting them now fails."""
        records = []
        for result in results:
            approval, pending = result.approval, result.pending
            if approval is None or pending is None or not approval.settled:
                continue  # an undecided one (held, unknown, scheduled) is in the store already
            record = PendingRecord(
                email_id=approval.email_id,
                mailbox_id=pending.mailbox_id,
                call_id=result.call_id,
                tool=result.name,
                thread_id=state.thread_id,
                run_id=getattr(state.run, "id", None),
            )
            store = self.dispatcher.approval_store
            if store is not None:
                store.add(record)
            records.append((record, approval))
        return records

    def begin_turn(self, state: RunState) -> None:
        """Outputs are about to be submitted: the model's next turn starts now."""
        state.turn_started = self._clock()

    def absorb_events(self, state: RunState, events: Iterable[Any]) -> None:
        """Read a stream to its end: the last run object and every finished message."""
        state.streamed = True
        for event in events:
            name = str(getattr(event, "event", ""))
            data = getattr(event, "data", None)
            if name.startswith("thread.run.") and not name.startswith("thread.run.step"):
                self.absorb(state, data, None)
            elif name == "thread.message.completed" and getattr(data, "role", None) == "assistant":
                state.messages.append(data)
            elif name == "error":
                raise StreamError(data)

    def outcome(self, state: RunState, requests: int) -> RunOutcome:
        run = state.run
        details = getattr(run, "incomplete_details", None)
        return RunOutcome(
            status=state.status,
            run=run,
            thread_id=state.thread_id,
            run_id=getattr(run, "id", None),
            messages=list(state.messages),
            tool_results=list(state.results),
            openai_requests=requests,
            duration=self._clock() - state.started,
            last_error=getattr(run, "last_error", None),
            incomplete_reason=getattr(details, "reason", None),
            steps=state.steps,
        )


class StreamError(RuntimeError):
    """The server sent an ``error`` event in a run stream."""


def thread_params(
    assistant_id: str, messages: Iterable[Any], params: Mapping[str, Any]
) -> dict[str, Any]:
    """``threads.create_and_run`` parameters; plain strings become user messages."""
    thread = dict(params.get("thread") or {})
    thread["messages"] = [
        {"role": "user", "content": m} if isinstance(m, str) else dict(m) for m in messages
    ]
    rest = {key: value for key, value in params.items() if key != "thread"}
    return {"assistant_id": assistant_id, "thread": thread, **rest}


def late_decision_text(outcome: ApprovalOutcome) -> str:
    """The message posted to a thread when a decision arrives after its run ended."""
    # Only settled outcomes arrive late (see `approvals.store.late_outcome`); the last
    # branch still says nothing it cannot know.
    if outcome.decision == "approved":
        verdict = "was approved by a human and sent" if outcome.approved_by_human else "was sent"
    elif outcome.decision == "scheduled":
        verdict = f"was approved by a human and will be sent at {outcome.send_at or 'its time'}"
    elif outcome.decision == "rejected":
        verdict = f"was rejected by a human (reason: {outcome.reason or 'none given'})"
    elif outcome.decision == "cancelled":
        verdict = "was cancelled before it was sent"
    elif outcome.decision == "send_failed":
        verdict = f"could not be delivered ({outcome.reason or outcome.status})"
    else:
        verdict = "has no known outcome yet; it is not known to have been sent"
    return f"{LATE_DECISION_PREFIX}The email {outcome.email_id} you sent earlier {verdict}."


def held_record(
    store: PendingStore | None, record: PendingRecord, token: str | None
) -> contextlib.AbstractContextManager[None]:
    """`holding` the claimed record (removed once posted, released if posting fails), or
    nothing to hold without a store."""
    if store is None or token is None:
        return contextlib.nullcontext()
    return holding(store, record.email_id, token)
