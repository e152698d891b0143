"""The streaming side of `ResponsesDriver` / `AsyncResponsesDriver` (``stream=True``): one
model turn read event by event (`stream_turn`, `stream_turn_async`); the callback's delivery
is `drivers.stream_emit`'s.

Each turn is ``responses.create(**request, stream=True)``, not the SDK's
``responses.stream(...)`` helper: the terminal event (``response.completed``, ``.failed``
or ``.incomplete``) carries the whole final response, the very object a non-streamed
request returns, so everything after the turn (calls, dispatch, parking, the outcome) is
the non-streaming driver's code unchanged. The helper would add an accumulator we do not
need, and it parses the arguments of ``strict`` function tools itself, raising on
malformed JSON that the dispatcher must instead answer as an output for the model.

Broken streams:

- Once the terminal event has come, the turn is over: the reading stops there, and a
  connection that breaks afterwards changes nothing.
- Before it, the turn is requested again, up to ``stream_retries`` times. That never sends
  anything twice: calls are carried out only once their turn's stream has ended, so a
  broken turn has none running. A new request is a new response (new call ids); text shown
  since the broken turn's `TurnStarted` is void, which `TurnRetried` says. A request that
  continues with ``previous_response_id`` is safe to repeat: the lost response becomes a
  dead branch beside the new one.
- Except with ``conversation=``: the server adds a response's input and output items to
  the conversation when it completes, so a second request would add the same input twice
  and leave the lost response's calls without outputs. Such a turn is never requested
  again. When the broken stream had named its response (``response.created``), the driver
  retrieves that response until it ends (for at most `RECOVER_FOR` seconds) and goes on
  from it, showing the rest of its text as one `TextDelta`; otherwise it raises the
  connection error, as it does once the retries are spent.

Every request made, the broken ones and the retrievals included, is counted in
``outcome.openai_requests``.

A callback that raises (an ``Exception``) stops the run: nothing more is delivered, an
approval wait under way ends at once (the approval stays recorded for a late decision),
no further call is carried out, and the run ends ``aborted`` with the callback's exception
as ``last_error`` and ``incomplete_reason="on_event_raised"``. Calls already carried out
stay in ``outcome.tool_results``. When the run had a checkpoint (parking), its status is
``parked`` instead, with the same ``last_error`` and reason: the step's checkpoint is
parked, so `resume(checkpoint_id)` finishes the run and an inbound router keeps the mail
thread on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openai

from mm_assistants.dispatch import ToolCall
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.steps import TERMINAL_STATUSES
from mm_assistants.drivers.stream_emit import (
    AsyncEmitter,
    Emitter,
    EventCallback,
    StreamAborted,
    check_callback,
)
from mm_assistants.drivers.stream_events import (
    StreamEvent,
    TextDelta,
    TurnCompleted,
    TurnReader,
    TurnRetried,
)

__all__ = [
    "DEFAULT_STREAM_RETRIES",
    "AsyncEmitter",
    "Emitter",
    "EventCallback",
    "StreamAborted",
    "aborted",
    "check_callback",
    "stream_turn",
    "stream_turn_async",
    "turn_end",
    "watched",
]

#: How many times a broken turn stream is requested again by default.
DEFAULT_STREAM_RETRIES = 2
#: How long a broken ``conversation`` turn's response is retrieved until it ends (seconds),
#: and the pause between two retrievals.
RECOVER_FOR = 60.0
RECOVER_PAUSE = 1.0

CUT_SHORT = "the stream ended before the response did"


def watched(calls: Sequence[ToolCall], emit: Emitter | AsyncEmitter) -> list[ToolCall]:
    """``calls`` whose held sends report the start of their approval wait to ``emit``
    (after the caller's own ``on_held``), and whose waits end once the callback raised."""
    return emit.watch(calls, emit.held)


def aborted(outcome: RunOutcome, cause: Exception, duration: float) -> RunOutcome:
    """``outcome`` of a run its callback stopped (``cause``: what the callback raised):
    ``aborted``, or still ``parked`` when its checkpoint was parked (it can be resumed)."""
    if outcome.status != "parked":
        outcome.status = "aborted"
    outcome.last_error = cause
    outcome.incomplete_reason = "on_event_raised"
    outcome.duration = duration
    return outcome


@dataclass(frozen=True)
class Recover:
    """A broken ``conversation`` turn: retrieve ``response_id`` instead of asking again."""

    response_id: str
    error: Exception


def turn_end(
    reader: TurnReader,
    error: Exception | None,
    attempt: int,
    retries: int,
    sent: Any,
    *,
    keeps_state: bool = False,
) -> Any:
    """How attempt ``attempt`` (from 1) of a turn ended: its final response (whatever broke
    after the terminal event), the `TurnRetried` to tell before asking again, or, for a
    request whose server-side state a second request would corrupt (``keeps_state``), the
    `Recover` to do instead. Raises the stream's error when it may not, or may no more, be
    asked again (an early end is an ``APIConnectionError`` too: the answer never came
    whole)."""
    if reader.response is not None:
        return reader.response
    failure = error or openai.APIConnectionError(message=CUT_SHORT, request=sent)
    if keeps_state:
        if reader.response_id is None:
            raise failure
        return Recover(reader.response_id, failure)
    if attempt > retries:
        raise failure
    reason = CUT_SHORT if error is None else f"{type(error).__name__}: {error}"
    return TurnRetried(attempt, reason)


def recovered(reader: TurnReader, response: Any) -> list[StreamEvent]:
    """The events that close a turn whose response was retrieved after its stream broke:
    the rest of its text (when what was shown is the start of it), then `TurnCompleted`."""
    shown = "".join(reader.text)
    final = str(getattr(response, "output_text", "") or "")
    rest = final[len(shown) :] if final.startswith(shown) else ""
    events: list[StreamEvent] = [TextDelta(rest)] if rest else []
    events.append(TurnCompleted(str(response.id), str(response.status)))
    return events


def _error_event(reader: TurnReader, request: Any) -> openai.APIError:
    # The SDK raises for errors inside legacy streams the same way: an APIError with the body.
    body = {"message": getattr(reader.error, "message", None), "code": reader.error.code}
    return openai.APIError(str(body["message"] or "error event"), request, body=body)


def _settled(response: Any, recover: Recover, give_up: float) -> bool:
    """Whether a retrieval of a broken turn's response ended the recovery: True when the
    response ended; the stream's error once no further look fits before ``give_up``."""
    if response is not None and getattr(response, "status", None) in TERMINAL_STATUSES:
        return True
    if time.monotonic() + RECOVER_PAUSE > give_up:
        raise recover.error
    return False


@dataclass
class _Attempt:
    """One attempt at a streamed turn: its number (from 1), its reader, the request its
    stream sent (once known) and the connection error that cut it short, if one did."""

    number: int
    reader: TurnReader
    sent: Any = None
    error: Exception | None = None

    def end(self, retries: int, request: dict[str, Any]) -> Any:
        """How this attempt ended (`turn_end`)."""
        return turn_end(
            self.reader,
            self.error,
            self.number,
            retries,
            self.sent,
            keeps_state="conversation" in request,
        )


def _next_attempt(attempt: _Attempt | None, outcome: RunOutcome) -> _Attempt:
    """The attempt after ``attempt`` (the first after ``None``); ``outcome`` counts its
    request now, as it is about to be made."""
    reader = TurnReader()
    outcome.openai_requests += 1
    return _Attempt(1 if attempt is None else attempt.number + 1, reader)


def stream_turn(
    responses: Any, request: dict[str, Any], emit: Emitter, retries: int, outcome: RunOutcome
) -> Any:
    """One model turn, streamed: its final response. ``outcome.openai_requests`` counts
    each request, the first included, as it is made."""
    attempt: _Attempt | None = None
    while True:
        attempt = _next_attempt(attempt, outcome)
        reader = attempt.reader
        try:
            with responses.create(**request, stream=True) as stream:
                attempt.sent = stream.response.request
                for raw in stream:
                    for event in reader.read(raw):
                        emit(event)
                    if reader.response is not None:
                        break  # the turn is over; what the connection does next is moot
                if reader.error is not None:
                    raise _error_event(reader, attempt.sent)
        except openai.APIConnectionError as cut:  # timeouts included
            attempt.error = cut
        ended = attempt.end(retries, request)
        if isinstance(ended, Recover):
            response = _recover(responses, ended, outcome)
            for event in recovered(reader, response):
                emit(event)
            return response
        if not isinstance(ended, TurnRetried):
            return ended
        emit(ended)


def _recover(responses: Any, recover: Recover, outcome: RunOutcome) -> Any:
    """Retrieve the broken turn's response until it ends; the stream's error when it does
    not within `RECOVER_FOR` seconds, or cannot be read."""
    give_up = time.monotonic() + RECOVER_FOR
    while True:
        outcome.openai_requests += 1
        try:
            response = responses.retrieve(recover.response_id)
        except openai.APIConnectionError:
            response = None  # the connection is still down: look again
        except openai.APIStatusError as error:
            raise recover.error from error
        if _settled(response, recover, give_up):
            return response
        time.sleep(RECOVER_PAUSE)


async def stream_turn_async(
    responses: Any, request: dict[str, Any], emit: AsyncEmitter, retries: int, outcome: RunOutcome
) -> Any:
    """`stream_turn` with ``await``."""
    attempt: _Attempt | None = None
    while True:
        attempt = _next_attempt(attempt, outcome)
        reader = attempt.reader
        try:
            stream = await responses.create(**request, stream=True)
            async with stream:
                attempt.sent = stream.response.request
                async for raw in stream:
                    for event in reader.read(raw):
                        await emit(event)
                    if reader.response is not None:
                        break
                if reader.error is not None:
                    raise _error_event(reader, attempt.sent)
        except openai.APIConnectionError as cut:
            attempt.error = cut
        ended = attempt.end(retries, request)
        if isinstance(ended, Recover):
            response = await _recover_async(responses, ended, outcome)
            for event in recovered(reader, response):
                await emit(event)
            return response
        if not isinstance(ended, TurnRetried):
            return ended
        await emit(ended)


async def _recover_async(responses: Any, recover: Recover, outcome: RunOutcome) -> Any:
    """`_recover` with ``await``."""
    give_up = time.monotonic() + RECOVER_FOR
    while True:
        outcome.openai_requests += 1
        try:
            response = await responses.retrieve(recover.response_id)
        except openai.APIConnectionError:
            response = None
        except openai.APIStatusError as error:
            raise recover.error from error
        if _settled(response, recover, give_up):
            return response
        await asyncio.sleep(RECOVER_PAUSE)
