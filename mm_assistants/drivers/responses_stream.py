"""The streaming side of `ResponsesDriver` / `AsyncResponsesDriver` (``stream=True``): one
model turn read event by event, and the ``on_event`` callback's delivery.

Each turn is ``responses.create(**request, stream=True)``, not the SDK's
``responses.stream(...)`` helper: the terminal event (``response.completed``, ``.failed``
or ``.incomplete``) carries the whole final response, the very object a non-streamed
request returns, so everything after the turn (calls, dispatch, parking, the outcome) is
the non-streaming driver's code unchanged. The helper would add an accumulator we do not
need, and it parses the arguments of ``strict`` function tools itself, raising on
malformed JSON that the dispatcher must instead answer as an output for the model.

A stream that breaks before its terminal event (a connection error, or an early end) is
requested again, up to ``stream_retries`` times. That never sends anything twice: calls
are carried out only once their turn's stream has ended, so a broken turn has none
running. A new request is a new response (new call ids); text shown since the broken
turn's `TurnStarted` is void, which `TurnRetried` says.

A callback that raises (an ``Exception``) stops the run: nothing more is delivered, no
further call is carried out, and the run ends ``aborted`` with the callback's exception
as ``last_error`` (also when the run parked before the failure was seen). Calls already
carried out stay in ``outcome.tool_results``; with parking, the step's checkpoint is kept
(parked, or left to lapse) and named by ``checkpoint_id``, so the run can be resumed.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import openai

from mm_assistants.dispatch import PendingApproval, ToolCall, ToolResult
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.stream_events import (
    AwaitingApproval,
    StreamEvent,
    ToolOutputReady,
    TurnReader,
    TurnRetried,
)

#: How many times a broken turn stream is requested again by default.
DEFAULT_STREAM_RETRIES = 2

CUT_SHORT = "the stream ended before the response did"

EventCallback = Callable[[StreamEvent], Any]


class StreamAborted(Exception):
    """The ``on_event`` callback raised ``cause``; the driver turns this into an
    ``aborted`` outcome (it never reaches the caller)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(f"on_event raised {type(cause).__name__}")
        self.cause = cause


def check_callback(owner: str, on_event: Any, *, stream: bool, awaits: bool) -> None:
    """A `TypeError`/`ValueError` at construction for a callback the driver cannot use."""
    if on_event is None:
        return
    if not callable(on_event):
        raise TypeError(f"{owner}: on_event must be callable, not {type(on_event).__name__}")
    if not stream:
        raise ValueError(f"{owner}: on_event needs stream=True (events come from the stream)")
    if not awaits and inspect.iscoroutinefunction(on_event):
        raise TypeError(
            f"{owner}: on_event is an async function, which a blocking driver cannot await;"
            " pass a plain function, or use AsyncResponsesDriver"
        )


def watched(
    calls: Sequence[ToolCall], on_held: Callable[[str, PendingApproval], None]
) -> list[ToolCall]:
    """``calls`` whose held sends report the start of their approval wait to ``on_held``."""
    return [replace(c, context=replace(c.context, on_held=on_held)) for c in calls]


def aborted(outcome: RunOutcome, cause: Exception, duration: float) -> RunOutcome:
    """``outcome`` of a run its callback stopped (``cause``: what the callback raised).
    A ``checkpoint_id`` it has stays: the run can still be resumed from there."""
    outcome.status = "aborted"
    outcome.last_error = cause
    outcome.incomplete_reason = "on_event_raised"
    outcome.duration = duration
    return outcome


def turn_end(
    reader: TurnReader, error: Exception | None, attempt: int, retries: int, sent: Any
) -> Any:
    """How attempt ``attempt`` (from 1) of a turn ended: its final response, or the
    `TurnRetried` to tell before asking again; out of retries, the stream's error (an
    early end is an ``APIConnectionError`` too: the answer never came whole)."""
    if error is None and reader.response is not None:
        return reader.response
    if attempt > retries:
        if error is not None:
            raise error
        raise openai.APIConnectionError(message=CUT_SHORT, request=sent)
    reason = CUT_SHORT if error is None else f"{type(error).__name__}: {error}"
    return TurnRetried(attempt, reason)


def _error_event(reader: TurnReader, request: Any) -> openai.APIError:
    # The SDK raises for errors inside legacy streams the same way: an APIError with the body.
    body = {"message": getattr(reader.error, "message", None), "code": reader.error.code}
    return openai.APIError(str(body["message"] or "error event"), request, body=body)


class Emitter:
    """Delivers events to a blocking driver's callback, one at a time (approval waits
    start in the dispatcher's worker threads), and remembers the first exception."""

    def __init__(self, on_event: EventCallback | None) -> None:
        self.on_event = on_event
        self.failure: Exception | None = None
        self._lock = threading.Lock()

    def deliver(self, event: StreamEvent) -> None:
        """Call the callback; never raises (it may run mid-dispatch)."""
        if self.on_event is None:
            return
        with self._lock:
            if self.failure is not None:
                return
            try:
                self.on_event(event)
            except Exception as error:  # noqa: BLE001 -- any callback error aborts the run
                self.failure = error

    def __call__(self, event: StreamEvent) -> None:
        """`deliver`, then stop the run (`StreamAborted`) if the callback ever raised."""
        self.deliver(event)
        self.check()

    def check(self) -> None:
        """`StreamAborted` once the callback has raised."""
        if self.failure is not None:
            raise StreamAborted(self.failure)

    def held(self, call_id: str, pending: PendingApproval) -> None:
        """The dispatcher's ``on_held`` hook."""
        self.deliver(AwaitingApproval(call_id, pending.email_id))

    def outputs(self, results: Sequence[ToolResult]) -> None:
        """One `ToolOutputReady` per result (a raising callback is seen by `check`)."""
        for result in results:
            self.deliver(ToolOutputReady(result.call_id, result.name, result.ok))


def stream_turn(
    responses: Any, request: dict[str, Any], emit: Emitter, retries: int, outcome: RunOutcome
) -> Any:
    """One model turn, streamed: its final response. ``outcome.openai_requests`` counts
    each request after the first (the caller counts that one)."""
    attempt = 0
    while True:
        attempt += 1
        reader = TurnReader()
        error: Exception | None = None
        sent: Any = None
        try:
            with responses.create(**request, stream=True) as stream:
                sent = stream.response.request
                for raw in stream:
                    for event in reader.read(raw):
                        emit(event)
                if reader.error is not None:
                    raise _error_event(reader, sent)
        except openai.APIConnectionError as cut:  # timeouts included
            error = cut
        ended = turn_end(reader, error, attempt, retries, sent)
        if not isinstance(ended, TurnRetried):
            return ended
        emit(ended)
        outcome.openai_requests += 1


class AsyncEmitter:
    """`Emitter` for `AsyncResponsesDriver`: the callback may be sync or async."""

    def __init__(self, on_event: EventCallback | None) -> None:
        self.on_event = on_event
        self.failure: Exception | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def deliver(self, event: StreamEvent) -> None:
        """Call (and await) the callback; never raises."""
        if self.on_event is None or self.failure is not None:
            return
        try:
            returned = self.on_event(event)
            if inspect.isawaitable(returned):
                await returned
        except Exception as error:  # noqa: BLE001 -- any callback error aborts the run
            if self.failure is None:
                self.failure = error

    async def __call__(self, event: StreamEvent) -> None:
        """`deliver`, then `StreamAborted` if the callback ever raised."""
        await self.deliver(event)
        self.check()

    def check(self) -> None:
        """`StreamAborted` once the callback has raised."""
        if self.failure is not None:
            raise StreamAborted(self.failure)

    def held(self, call_id: str, pending: PendingApproval) -> None:
        """The dispatcher's ``on_held`` hook: it runs on the loop, mid-dispatch, so the
        event is delivered by a task (awaited by `settle`)."""
        task = asyncio.get_running_loop().create_task(
            self.deliver(AwaitingApproval(call_id, pending.email_id))
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def outputs(self, results: Sequence[ToolResult]) -> None:
        """Finish the approval events, then one `ToolOutputReady` per result."""
        if self._pending:
            await asyncio.gather(*self._pending)
        for result in results:
            await self.deliver(ToolOutputReady(result.call_id, result.name, result.ok))


async def stream_turn_async(
    responses: Any, request: dict[str, Any], emit: AsyncEmitter, retries: int, outcome: RunOutcome
) -> Any:
    """`stream_turn` with ``await``."""
    attempt = 0
    while True:
        attempt += 1
        reader = TurnReader()
        error: Exception | None = None
        sent: Any = None
        try:
            stream = await responses.create(**request, stream=True)
            async with stream:
                sent = stream.response.request
                async for raw in stream:
                    for event in reader.read(raw):
                        await emit(event)
                if reader.error is not None:
                    raise _error_event(reader, sent)
        except openai.APIConnectionError as cut:
            error = cut
        ended = turn_end(reader, error, attempt, retries, sent)
        if not isinstance(ended, TurnRetried):
            return ended
        await emit(ended)
        outcome.openai_requests += 1
