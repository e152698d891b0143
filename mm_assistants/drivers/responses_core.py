"""What `ResponsesDriver` and `AsyncResponsesDriver` (and `chat_tool_loop`) share:
configuration, the first and follow-up requests, and how a loop's outcome is built. No I/O:
the shells in `drivers.responses` only call OpenAI and the dispatcher."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar, Generic

from mm_assistants import _validate
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.drivers import parking
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.parked import LEASE_SECONDS, Parking
from mm_assistants.drivers.parked_drive import Drive
from mm_assistants.drivers.responses_stream import (
    DEFAULT_STREAM_RETRIES,
    EventCallback,
    aborted,
    check_callback,
)
from mm_assistants.drivers.seams import DispatcherT, OpenAIT, require_parts
from mm_assistants.drivers.steps import TERMINAL_STATUSES
from mm_assistants.state import CheckpointStore

DEFAULT_MAX_TURNS = 12
#: A response in one of these ends the loop even if it asks for calls: every terminal
#: status (`drivers.steps`) but ``completed``, which a response with calls has too.
STOP_STATUSES = TERMINAL_STATUSES - {"completed"}


class ResponsesDriverCore(Generic[OpenAIT, DispatcherT]):
    """Configuration and the pure steps both Responses drivers share; each subclass is
    typed with its parts' kind, and parts of the other kind are a `TypeError` here."""

    #: Whether the subclass awaits its parts, and the class to use for the other kind.
    asynchronous: ClassVar[bool] = False
    twin: ClassVar[str] = ""

    def __init__(
        self,
        openai_client: OpenAIT,
        dispatcher: DispatcherT,
        *,
        approvals: ApprovalPolicy | None = None,
        max_turns: int = DEFAULT_MAX_TURNS,
        deadline: float | None = None,
        clock: Callable[[], float] = time.time,
        checkpoints: CheckpointStore | None = None,
        checkpoint_lease: float = LEASE_SECONDS,
        stream: bool = False,
        on_event: EventCallback | None = None,
        stream_retries: int = DEFAULT_STREAM_RETRIES,
    ) -> None:
        name = type(self).__name__
        _validate.whole(name, "stream_retries", stream_retries, minimum=0)
        check_callback(name, on_event, stream=stream, awaits=self.asynchronous)
        _validate.whole(name, "max_turns", max_turns, minimum=1)
        _validate.optional_number(name, "deadline", deadline, above=True)  # seconds
        _validate.number(name, "checkpoint_lease", checkpoint_lease, above=True)
        if approvals is not None and approvals.park_after is not None and checkpoints is None:
            raise ValueError(
                f"{name}: ApprovalPolicy(park_after=...) needs checkpoints= (a CheckpointStore"
                " where parked runs wait)"
            )
        if self.twin:
            require_parts(
                name, openai_client, dispatcher, asynchronous=self.asynchronous, twin=self.twin
            )
        self.openai: OpenAIT = openai_client
        self.dispatcher: DispatcherT = dispatcher
        self.approvals = approvals if approvals is not None else ApprovalPolicy()
        self.max_turns = max_turns
        #: Each turn streamed (see `drivers.responses_stream`), events to ``on_event``.
        self.stream = stream
        self.on_event = on_event
        self.stream_retries = stream_retries
        self.deadline = deadline
        self._clock = clock
        #: The checkpoint side of parked runs (``None`` without ``checkpoints``).
        self.parking = (
            None
            if checkpoints is None
            else Parking(checkpoints, self.approvals, dispatcher, clock, checkpoint_lease)
        )

    def __repr__(self) -> str:
        streamed = ", stream=True" if self.stream else ""
        return (
            f"{type(self).__name__}(max_turns={self.max_turns}, approvals={self.approvals!r}"
            f"{streamed})"
        )

    def first_request(
        self,
        input: Any,
        model: str,
        instructions: str | None,
        tools: list[Any] | None,
        previous_response_id: str | None,
        conversation: Any,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": model,
            "input": input,
            "tools": tools if tools is not None else self.dispatcher.tool_definitions("responses"),
            **params,
        }
        optional = {
            "instructions": instructions,
            "previous_response_id": previous_response_id,
            "conversation": conversation,
        }
        request.update({key: value for key, value in optional.items() if value is not None})
        return request

    def park_template(self, request: dict[str, Any], meta: Any) -> None:
        """Refuse, before anything is sent, a run that may park but could not be stored:
        ``store=False``, transport options, parameters or ``checkpoint_meta`` not JSON."""
        if self.parking is None or not self.parking.parks:
            return
        parking.request_template(request)
        parking.check_meta(meta)

    def require_parking(self) -> Parking:
        """The checkpoint side, or a `ValueError`: `resume` needs ``checkpoints=``."""
        if self.parking is None:
            raise ValueError(f"{type(self).__name__}.resume needs checkpoints= (a CheckpointStore)")
        return self.parking

    @staticmethod
    def follow_up(request: dict[str, Any], response: Any, outputs: list[Any]) -> dict[str, Any]:
        """The next request: the same settings, this turn's outputs as input."""
        follow = {k: v for k, v in request.items() if k not in ("input", "previous_response_id")}
        follow["input"] = outputs
        if "conversation" not in request:
            follow["previous_response_id"] = response.id
        return follow

    def checked(self, drive: Drive, outcome: RunOutcome) -> RunOutcome:
        """``outcome``, or ``aborted`` when the ``on_event`` callback raised where the run
        could not stop at once (mid-dispatch) and the run ended before it looked again."""
        failure = getattr(drive.events, "failure", None)
        if failure is None or outcome.status == "aborted":
            return outcome
        return aborted(outcome, failure, self._clock() - drive.started)

    def deadline_at(self, started: float) -> float | None:
        return started + self.deadline if self.deadline is not None else None

    def finished(self, outcome: RunOutcome, response: Any, started: float) -> RunOutcome:
        """``outcome`` of a loop that ended on ``response`` (its status and text)."""
        status = str(getattr(response, "status", None) or "completed")
        text = getattr(response, "output_text", None)
        return loop_ended(outcome, response, status, text, self._clock() - started)

    def out_of_turns(self, outcome: RunOutcome, response: Any, started: float) -> RunOutcome:
        """``outcome`` of a loop stopped by ``max_turns`` on ``response``."""
        return out_of_turns(outcome, response, self._clock() - started)


def loop_ended(
    outcome: RunOutcome, answer: Any, status: str, text: str | None, duration: float
) -> RunOutcome:
    """Fill ``outcome`` for a tool loop (Responses or Chat) that ended on ``answer`` (the
    last response or completion) in ``status``; ``text`` is the model's final words."""
    outcome.status = status
    outcome.run = answer
    outcome.run_id = getattr(answer, "id", None)
    outcome.last_error = getattr(answer, "error", None)
    details = getattr(answer, "incomplete_details", None)
    outcome.incomplete_reason = getattr(details, "reason", None)
    if status == "completed" and text:
        outcome.messages.append(text)
    outcome.duration = duration
    return outcome


def out_of_turns(outcome: RunOutcome, answer: Any, duration: float) -> RunOutcome:
    """`loop_ended` for a loop that ran out of turns: ``incomplete``, ``max_turns``."""
    outcome = loop_ended(outcome, answer, "incomplete", None, duration)
    outcome.incomplete_reason = "max_turns"
    return outcome
