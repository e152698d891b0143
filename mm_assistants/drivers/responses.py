"""`ResponsesDriver` (and, from `drivers.responses_async`, `AsyncResponsesDriver`; from
`drivers.chat`, `chat_tool_loop` for Chat Completions).

The Responses API is OpenAI's recommended path since the Assistants API shut down. The
application owns the loop: create a response, carry out its function calls (concurrently,
approval waits included), send every ``function_call_output`` in the next request, and
repeat until the model answers without calls.

Example::

    driver = ResponsesDriver(OpenAI(), Dispatcher(MultiMailClient(...), mailbox_id="mbx_1"))
    outcome = driver.run("Answer the newest email in my inbox", model="gpt-4.1")
    print(outcome.text)

With ``stream=True`` each turn streams, and ``on_event`` sees the model's words and the
tool progress as they happen (`drivers.stream_events`; `drivers.responses_stream` says how
broken streams and a raising callback are handled); the outcome is the same::

    def show(event):
        if isinstance(event, TextDelta):
            print(event.text, end="", flush=True)

    outcome = ResponsesDriver(OpenAI(), dispatcher, stream=True, on_event=show).run(...)

A run may *park* instead of holding a thread while a human decides (see `drivers.parked`)::

    driver = ResponsesDriver(OpenAI(), dispatcher, checkpoints=PostgresCheckpointStore(dsn),
                             approvals=ApprovalPolicy(park_after=30.0))
    outcome = driver.run("...", model="gpt-4.1", checkpoint_meta={"mm_thread": "t1"})
    if outcome.status == "parked":          # later, in any process, once decided:
        outcome = driver.resume(outcome.checkpoint_id)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai

from mm_assistants.dispatch import (
    Dispatcher,
    ToolCall,
    ToolResult,
)
from mm_assistants.drivers.chat import chat_tool_loop
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.parked import Parking
from mm_assistants.drivers.parked_drive import Drive, response_gone
from mm_assistants.drivers.responses_async import AsyncResponsesDriver
from mm_assistants.drivers.responses_core import (
    ResponsesDriverCore,
    abandoned_on_error,
)
from mm_assistants.drivers.responses_stream import (
    Emitter,
    StreamAborted,
    stream_turn,
)

__all__ = ["AsyncResponsesDriver", "ResponsesDriver", "chat_tool_loop"]


class ResponsesDriver(ResponsesDriverCore[openai.OpenAI, Dispatcher]):
    """Runs the Responses tool loop with a blocking ``OpenAI`` client and a `Dispatcher` (an
    ``AsyncOpenAI`` client or an `AsyncDispatcher` is a `TypeError`).

    With ``approvals=ApprovalPolicy(park_after=...)`` and ``checkpoints=`` (a
    `CheckpointStore`) a run whose held send is undecided after ``park_after`` ends
    ``parked``, and `resume` finishes it in any process (see `drivers.parked`).
    """

    twin = "AsyncResponsesDriver under asyncio"

    def run(
        self,
        input: Any,
        *,
        model: str,
        instructions: str | None = None,
        tools: list[Any] | None = None,
        previous_response_id: str | None = None,
        conversation: Any = None,
        checkpoint_meta: dict[str, Any] | None = None,
        **params: Any,
    ) -> RunOutcome:
        """Loop until the model answers without function calls (or ``max_turns``), or
        until the run parks. ``checkpoint_meta`` (JSON) is kept in its checkpoints."""
        started = self._clock()
        request = self.first_request(
            input, model, instructions, tools, previous_response_id, conversation, params
        )
        drive = self.begin(started, request, checkpoint_meta)
        drive.events = Emitter(self.on_event)
        try:
            response = self._create(drive, request)
            return self.checked(drive, self._drive(drive, request, response))
        except StreamAborted as stop:
            return self.stopped(drive, stop)

    def resume(self, checkpoint_id: str, *, follow_with: Sequence[Any] = ()) -> RunOutcome:
        """Finish a parked run once every held send of its step is decided: submit all the
        step's outputs (each held call's output is the human's decision), then
        ``follow_with`` (input items, e.g. mail that came meanwhile), and drive the run to
        its end. Ends ``parked`` again while a decision is missing, ``busy`` while another
        resumer holds the checkpoint, ``gone`` when it no longer exists. Raises
        `CheckpointError` when this driver's tools or mailbox scope differ from those of
        the driver that parked it."""
        park, drive = self.claimed(checkpoint_id)
        if isinstance(drive, RunOutcome):
            return drive
        drive.events = Emitter(self.on_event)
        try:
            with abandoned_on_error(drive):
                return self.checked(drive, self._resume(park, drive, list(follow_with)))
        except StreamAborted as stop:
            return self.stopped(drive, stop)

    def _resume(self, park: Parking, drive: Drive, follow_with: list[Any]) -> RunOutcome:
        move = self.next_move(drive)
        if move == "fall_back":
            return self.fall_back(park, drive, "park_expired")
        if move == "continue":
            return self._continue(park, drive)
        if move == "redispatch":
            parked = self._redispatch(park, drive)
            if parked is not None:
                return parked
        return self._submit(park, drive, follow_with)

    def _continue(self, park: Parking, drive: Drive) -> RunOutcome:
        """The outputs went out before a crash: go on from OpenAI's answer to them."""
        after = self.successor(park, drive)
        if after is not None:  # the next step took over: resume that
            return self.resume(after)
        checkpoint, _ = drive.held_step()
        try:
            response = self.openai.responses.retrieve(str(checkpoint.next_response_id))
        except openai.NotFoundError:
            return self.fall_back(park, drive, "response_gone")
        drive.outcome.openai_requests += 1
        return self._drive(drive, dict(checkpoint.request), response)

    def _redispatch(self, park: Parking, drive: Drive) -> RunOutcome | None:
        """A crash mid-dispatch: send the step's unanswered calls again (same ids, so
        the same idempotency keys); the outcome when the run parks again, else ``None``."""
        checkpoint, calls = self.redispatch_calls(park, drive)
        results = self._dispatch(drive, calls, park.wait_policy)
        return self.redispatched(park, drive, checkpoint, results)

    def _submit(self, park: Parking, drive: Drive, follow_with: list[Any]) -> RunOutcome:
        """Every held send decided: submit the step's outputs and drive on; else the
        run stays parked."""
        checkpoint, _ = drive.held_step()
        decided = {}
        for call, held in self.held_sends(drive):
            result = park.decided(call, park.hub_decision(held.email_id), "hub")
            if result is None:
                email = self.dispatcher.fetch_email(held.email_id, held.mailbox_id)
                result = park.decided(call, email, "poll")
            if result is None:
                return self.undecided(drive)
            decided[call.call_id] = result
        try:
            response = self._create(drive, self.submission(park, drive, decided, follow_with))
        except (openai.NotFoundError, openai.BadRequestError) as error:
            if not response_gone(error):
                raise
            return self.submit_gone(park, drive)
        if self.submitted(park, drive, response, decided):
            return self._drive(drive, dict(checkpoint.request), response)
        return drive.outcome

    def _create(self, drive: Drive, request: dict[str, Any]) -> Any:
        """One model turn: a plain request, or a streamed one (`drivers.responses_stream`);
        counted in ``openai_requests`` (a streamed one as soon as it is made)."""
        if not self.stream:
            response = self.openai.responses.create(**request)
            drive.outcome.openai_requests += 1
            return response
        drive.events.check()  # a callback that raised while calls ran stops the run here
        return stream_turn(
            self.openai.responses, request, drive.events, self.stream_retries, drive.outcome
        )

    def _dispatch(self, drive: Drive, calls: list[ToolCall], policy: Any) -> list[ToolResult]:
        """Carry out one step's calls; their results are in the outcome before any event
        about them is delivered, so a callback that raises loses none."""
        calls = self.watch(drive, calls)
        results = self.dispatcher.dispatch_many(calls, approvals=policy)
        drive.outcome.tool_results.extend(results)
        if drive.events is not None:
            drive.events.outputs(results)
        return results

    def _drive(self, drive: Drive, request: dict[str, Any], response: Any) -> RunOutcome:
        with abandoned_on_error(drive):
            while True:
                calls = self.loop_calls(drive, request, response)
                if isinstance(calls, RunOutcome):
                    return calls
                results = self._dispatch(drive, calls, self.loop_policy())
                stopped = self.stepped(drive, response, results)
                if stopped is not None:
                    return stopped
                request = self.next_request(request, response, results)
                response = self._create(drive, request)
                if not self.next_turn(drive, response):
                    return drive.outcome
