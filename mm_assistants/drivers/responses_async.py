"""`AsyncResponsesDriver`: `ResponsesDriver` (`mm_assistants.drivers.responses`, where the
loop is described) for ``AsyncOpenAI`` and an `AsyncDispatcher`; the shared steps are
`drivers.responses_core`'s, so the two classes differ only in ``await``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import openai

from mm_assistants.dispatch import (
    AsyncDispatcher,
    ToolCall,
    ToolResult,
)
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.parked import Parking
from mm_assistants.drivers.parked_drive import Drive, response_gone
from mm_assistants.drivers.responses_core import (
    ResponsesDriverCore,
    abandoned_on_error,
)
from mm_assistants.drivers.responses_stream import (
    AsyncEmitter,
    StreamAborted,
    stream_turn_async,
)

__all__ = ["AsyncResponsesDriver"]


class AsyncResponsesDriver(ResponsesDriverCore[openai.AsyncOpenAI, AsyncDispatcher]):
    """`ResponsesDriver` for ``AsyncOpenAI`` and an `AsyncDispatcher` (parking and
    `resume` included)."""

    asynchronous = True
    twin = "ResponsesDriver in blocking code"

    async def run(
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
        until the run parks (see `ResponsesDriver.run`)."""
        started = self._clock()
        request = self.first_request(
            input, model, instructions, tools, previous_response_id, conversation, params
        )
        drive = self.begin(started, request, checkpoint_meta)
        drive.events = AsyncEmitter(self.on_event)
        try:
            response = await self._create(drive, request)
            return self.checked(drive, await self._drive(drive, request, response))
        except StreamAborted as stop:
            return self.stopped(drive, stop)

    async def resume(self, checkpoint_id: str, *, follow_with: Sequence[Any] = ()) -> RunOutcome:
        """`ResponsesDriver.resume` with ``await``."""
        park, drive = self.claimed(checkpoint_id)
        if isinstance(drive, RunOutcome):
            return drive
        drive.events = AsyncEmitter(self.on_event)
        try:
            with abandoned_on_error(drive):
                return self.checked(drive, await self._resume(park, drive, list(follow_with)))
        except StreamAborted as stop:
            return self.stopped(drive, stop)

    async def _resume(self, park: Parking, drive: Drive, follow_with: list[Any]) -> RunOutcome:
        move = self.next_move(drive)
        if move == "fall_back":
            return self.fall_back(park, drive, "park_expired")
        if move == "continue":
            return await self._continue(park, drive)
        if move == "redispatch":
            parked = await self._redispatch(park, drive)
            if parked is not None:
                return parked
        return await self._submit(park, drive, follow_with)

    async def _continue(self, park: Parking, drive: Drive) -> RunOutcome:
        """The outputs went out before a crash: go on from OpenAI's answer to them."""
        after = self.successor(park, drive)
        if after is not None:  # the next step took over: resume that
            return await self.resume(after)
        checkpoint, _ = drive.held_step()
        try:
            response = await self.openai.responses.retrieve(str(checkpoint.next_response_id))
        except openai.NotFoundError:
            return self.fall_back(park, drive, "response_gone")
        drive.outcome.openai_requests += 1
        return await self._drive(drive, dict(checkpoint.request), response)

    async def _redispatch(self, park: Parking, drive: Drive) -> RunOutcome | None:
        """A crash mid-dispatch: send the step's unanswered calls again (same ids, so
        the same idempotency keys); the outcome when the run parks again, else ``None``."""
        checkpoint, calls = self.redispatch_calls(park, drive)
        results = await self._dispatch(drive, calls, park.wait_policy)
        return self.redispatched(park, drive, checkpoint, results)

    async def _submit(self, park: Parking, drive: Drive, follow_with: list[Any]) -> RunOutcome:
        """`ResponsesDriver._submit` with ``await``."""
        checkpoint, _ = drive.held_step()
        decided = {}
        for call, held in self.held_sends(drive):
            # the hub may read the database: off the event loop (see ApprovalHub.current)
            heard = (
                await asyncio.to_thread(park.hub_decision, held.email_id)
                if park.reads_hub
                else None
            )
            result = park.decided(call, heard, "hub")
            if result is None:
                email = await self.dispatcher.fetch_email(held.email_id, held.mailbox_id)
                result = park.decided(call, email, "poll")
            if result is None:
                return self.undecided(drive)
            decided[call.call_id] = result
        try:
            response = await self._create(drive, self.submission(park, drive, decided, follow_with))
        except (openai.NotFoundError, openai.BadRequestError) as error:
            if not response_gone(error):
                raise
            return self.submit_gone(park, drive)
        if self.submitted(park, drive, response, decided):
            return await self._drive(drive, dict(checkpoint.request), response)
        return drive.outcome

    async def _create(self, drive: Drive, request: dict[str, Any]) -> Any:
        """`ResponsesDriver._create` with ``await``."""
        if not self.stream:
            response = await self.openai.responses.create(**request)
            drive.outcome.openai_requests += 1
            return response
        drive.events.check()
        return await stream_turn_async(
            self.openai.responses, request, drive.events, self.stream_retries, drive.outcome
        )

    async def _dispatch(self, drive: Drive, calls: list[ToolCall], policy: Any) -> list[ToolResult]:
        """`ResponsesDriver._dispatch` with ``await``."""
        calls = self.watch(drive, calls)
        try:
            results = await self.dispatcher.dispatch_many(calls, approvals=policy)
        except BaseException:
            if drive.events is not None:  # no approval event outlives its dispatch
                await drive.events.drop_pending()
            raise
        drive.outcome.tool_results.extend(results)
        if drive.events is not None:
            await drive.events.outputs(results)
        return results

    async def _drive(self, drive: Drive, request: dict[str, Any], response: Any) -> RunOutcome:
        with abandoned_on_error(drive):
            while True:
                calls = self.loop_calls(drive, request, response)
                if isinstance(calls, RunOutcome):
                    return calls
                results = await self._dispatch(drive, calls, self.loop_policy())
                stopped = self.stepped(drive, response, results)
                if stopped is not None:
                    return stopped
                request = self.next_request(request, response, results)
                response = await self._create(drive, request)
                if not self.next_turn(drive, response):
                    return drive.outcome
