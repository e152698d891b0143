"""What `ResponsesDriver` and `AsyncResponsesDriver` (and `chat_tool_loop`) share:
configuration, the first and follow-up requests, the bookkeeping of a drive between its
calls (starting, claiming, stepping, parking, falling back) and how a loop's outcome is built.
No call to OpenAI or the dispatcher (the checkpoint store's, blocking in both drivers alike,
go through `Parking` here): the shells in `drivers.responses` and `drivers.responses_async`
make those calls, so they differ only in ``await``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Generic

from mm_assistants import _validate
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import ToolCall, ToolResult, calls_from_response
from mm_assistants.drivers import parking
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.parked import LEASE_SECONDS, Parking, lost
from mm_assistants.drivers.parked_drive import Drive, ended, still_parked
from mm_assistants.drivers.parking import HeldSend, ParkedCall, RunCheckpoint
from mm_assistants.drivers.responses_stream import (
    DEFAULT_STREAM_RETRIES,
    EventCallback,
    StreamAborted,
    aborted,
    check_callback,
    watched,
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

    # The bookkeeping of a drive, between the shells' calls to OpenAI and the dispatcher.

    def begin(
        self, started: float, request: dict[str, Any], checkpoint_meta: dict[str, Any] | None
    ) -> Drive:
        """The drive of a new run started at ``started`` on ``request``; a run that may park
        but could not be stored is refused here, before anything is sent (`park_template`)."""
        self.park_template(request, checkpoint_meta)
        outcome = RunOutcome(status="in_progress")
        return Drive(outcome, started, dict(checkpoint_meta or {}))

    def claimed(self, checkpoint_id: str) -> tuple[Parking, Drive | RunOutcome]:
        """For `resume`: the checkpoint side and a drive holding the claimed checkpoint, or
        the outcome (``gone`` or ``busy``) when it cannot be claimed."""
        park = self.require_parking()
        outcome = RunOutcome(status="in_progress", checkpoint_id=checkpoint_id)
        claimed = park.claim(checkpoint_id)
        if isinstance(claimed, str):
            return park, ended(outcome, claimed, checkpoint_id)
        checkpoint, lease = claimed
        return park, Drive(outcome, self._clock(), dict(checkpoint.meta), (checkpoint, lease))

    def stopped(self, drive: Drive, stop: StreamAborted) -> RunOutcome:
        """The outcome of a run the ``on_event`` callback stopped: its held step parks."""
        drive.stopped(self.parking)
        return aborted(drive.outcome, stop.cause, self._clock() - drive.started)

    def next_move(self, drive: Drive) -> str:
        """How a resume goes on from its held step (`parking.next_move`)."""
        checkpoint, _ = drive.held_step()
        return parking.next_move(checkpoint, now=self._clock())

    def fall_back(self, park: Parking, drive: Drive, reason: str) -> RunOutcome:
        """The outcome of a resume whose held step cannot go on (`Parking.fall_back`)."""
        checkpoint, lease = drive.held_step()
        return park.fall_back(lease, checkpoint, drive.outcome, reason)

    def successor(self, park: Parking, drive: Drive) -> str | None:
        """The checkpoint of the step after the held one when that step took over (the
        drive closes: resume that one instead), else ``None``."""
        checkpoint, _ = drive.held_step()
        after = parking.checkpoint_id_for(str(checkpoint.next_response_id))
        if park.store.get(after) is None:
            return None
        drive.close()
        return after

    def redispatch_calls(self, park: Parking, drive: Drive) -> tuple[RunCheckpoint, list[ToolCall]]:
        """The held step's unanswered calls to send again (same ids, so the same
        idempotency keys), with the checkpoint that plans it."""
        checkpoint, _ = drive.held_step()
        todo, checkpoint = parking.redispatch_plan(checkpoint, self._clock())
        return checkpoint, park.tool_calls(checkpoint, todo, self.deadline_at(drive.started))

    def redispatched(
        self, park: Parking, drive: Drive, checkpoint: RunCheckpoint, results: list[ToolResult]
    ) -> RunOutcome | None:
        """After a redispatch: the outcome when the run parks again (or lost its claim),
        else ``None``."""
        _, lease = drive.held_step()
        checkpoint = park.after_dispatch(checkpoint, results, hold=park.parks)
        drive.step = (checkpoint, lease)
        if lease.lost:
            drive.abandon()
            return lost(drive.outcome, checkpoint.checkpoint_id)
        if checkpoint.held():
            drive.step = None
            return park.park(lease, checkpoint, drive.outcome)
        return None

    def held_sends(self, drive: Drive) -> list[tuple[ParkedCall, HeldSend]]:
        """The held step's held calls, each with its held send."""
        checkpoint, _ = drive.held_step()
        sends = []
        for call in checkpoint.held():
            assert call.held is not None  # held() holds only those
            sends.append((call, call.held))
        return sends

    def undecided(self, drive: Drive) -> RunOutcome:
        """The outcome of a resume that found a held send of its step undecided."""
        _, lease = drive.held_step()
        drive.step = None
        return still_parked(drive.outcome, lease)

    def submission(
        self, park: Parking, drive: Drive, decided: Mapping[str, ToolResult], follow_with: list[Any]
    ) -> dict[str, Any]:
        """The request that submits every output of the held step (the held calls' are
        the ``decided`` results), then ``follow_with``."""
        checkpoint, _ = drive.held_step()
        outputs = park.outputs(checkpoint, decided)
        return parking.follow_up_request(checkpoint, outputs, follow_with)

    def submit_gone(self, park: Parking, drive: Drive) -> RunOutcome:
        """The outcome of a resume whose submit found the step's response gone at OpenAI."""
        checkpoint, lease = drive.held_step()
        drive.step = None
        return park.fall_back(lease, checkpoint, drive.outcome, "response_gone")

    def submitted(
        self, park: Parking, drive: Drive, response: Any, decided: Mapping[str, ToolResult]
    ) -> bool:
        """Record the submit that ``response`` answered (`Drive.submitted`) and settle its
        decisions; False (the outcome ``busy``) when the claim was lost."""
        checkpoint, _ = drive.held_step()
        if not drive.submitted(response, decided):
            return False
        park.delivered(checkpoint, decided)
        return True

    def watch(self, drive: Drive, calls: list[ToolCall]) -> list[ToolCall]:
        """``calls``, reporting their progress to ``on_event`` when there is one."""
        return watched(calls, drive.events) if self.on_event is not None else calls

    def loop_park(self) -> Parking | None:
        """The checkpoint side when runs may park (a loop's steps are then stored)."""
        return self.parking if self.parking is not None and self.parking.parks else None

    def loop_policy(self) -> Any:
        """The approval policy a loop dispatches with (a parking one waits less)."""
        park = self.loop_park()
        return self.approvals if park is None else park.wait_policy

    def loop_calls(
        self, drive: Drive, request: dict[str, Any], response: Any
    ) -> list[ToolCall] | RunOutcome:
        """The calls a loop's ``response`` asks for, to dispatch; or the outcome when it
        ends the loop (no calls, or a stop status) or, parking, its step cannot be
        stored (`Drive.open`)."""
        calls = calls_from_response(response, deadline=self.deadline_at(drive.started))
        if not calls or getattr(response, "status", None) in STOP_STATUSES:
            drive.close()
            return self.finished(drive.outcome, response, drive.started)
        park = self.loop_park()
        if park is not None and not drive.open(park, response, calls, request):
            return drive.outcome
        return calls

    def stepped(self, drive: Drive, response: Any, results: list[ToolResult]) -> RunOutcome | None:
        """After a step's dispatch: the outcome when the run parks (or lost its claim) or
        ran out of turns, else ``None`` (the loop submits ``results``)."""
        park = self.loop_park()
        if park is not None:
            parked = drive.after_dispatch(park, results)
            if parked is not None:
                return parked
        drive.outcome.steps += 1
        if drive.turns >= self.max_turns:
            drive.close()
            return self.out_of_turns(drive.outcome, response, drive.started)
        return None

    @staticmethod
    def next_turn(drive: Drive, response: Any) -> bool:
        """Count the turn ``response`` answered and record its submit
        (`Drive.record_submit`); False (the outcome ``busy``) when the claim was lost."""
        drive.turns += 1
        return drive.record_submit(response)

    def next_request(
        self, request: dict[str, Any], response: Any, results: list[ToolResult]
    ) -> dict[str, Any]:
        """The request that submits ``results`` (`follow_up`)."""
        return self.follow_up(request, response, [r.to_responses() for r in results])


@contextmanager
def abandoned_on_error(drive: Drive) -> Iterator[None]:
    """Around a drive: any exception but `StreamAborted` (whose caller parks the held step)
    abandons the held step before it goes on."""
    try:
        yield
    except StreamAborted:
        raise
    except BaseException:
        drive.abandon()
        raise


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
