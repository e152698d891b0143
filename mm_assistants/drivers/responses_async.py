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
    calls_from_response,
)
from mm_assistants.drivers import parking
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.parked import Parking, lost
from mm_assistants.drivers.parked_drive import Drive, ended, response_gone, still_parked
from mm_assistants.drivers.responses_core import (
    STOP_STATUSES,
    ResponsesDriverCore,
)
from mm_assistants.drivers.responses_stream import (
    AsyncEmitter,
    StreamAborted,
    aborted,
    stream_turn_async,
    watched,
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
        self.park_template(request, checkpoint_meta)
        outcome = RunOutcome(status="in_progress")
        drive = Drive(outcome, started, dict(checkpoint_meta or {}))
        drive.events = AsyncEmitter(self.on_event)
        try:
            response = await self._create(drive, request)
            return self.checked(drive, await self._drive(drive, request, response))
        except StreamAborted as stop:
            drive.stopped(self.parking)
            return aborted(outcome, stop.cause, self._clock() - drive.started)

    async def resume(self, checkpoint_id: str, *, follow_with: Sequence[Any] = ()) -> RunOutcome:
        """`ResponsesDriver.resume` with ``await``."""
        park = self.require_parking()
        outcome = RunOutcome(status="in_progress", checkpoint_id=checkpoint_id)
        claimed = park.claim(checkpoint_id)
        if isinstance(claimed, str):
            return ended(outcome, claimed, checkpoint_id)
        checkpoint, lease = claimed
        drive = Drive(outcome, self._clock(), dict(checkpoint.meta), (checkpoint, lease))
        drive.events = AsyncEmitter(self.on_event)
        try:
            return self.checked(drive, await self._resume(park, drive, list(follow_with)))
        except StreamAborted as stop:
            drive.stopped(self.parking)
            return aborted(outcome, stop.cause, self._clock() - drive.started)
        except BaseException:
            drive.abandon()
            raise

    async def _resume(self, park: Parking, drive: Drive, follow_with: list[Any]) -> RunOutcome:
        checkpoint, lease = drive.held_step()
        move = parking.next_move(checkpoint, now=self._clock())
        if move == "fall_back":
            return park.fall_back(lease, checkpoint, drive.outcome, "park_expired")
        if move == "continue":
            return await self._continue(park, drive)
        if move == "redispatch":
            parked = await self._redispatch(park, drive)
            if parked is not None:
                return parked
        return await self._submit(park, drive, follow_with)

    async def _continue(self, park: Parking, drive: Drive) -> RunOutcome:
        """The outputs went out before a crash: go on from OpenAI's answer to them."""
        checkpoint, lease = drive.held_step()
        after = parking.checkpoint_id_for(str(checkpoint.next_response_id))
        if park.store.get(after) is not None:  # the next step took over: resume that
            drive.close()
            return await self.resume(after)
        try:
            response = await self.openai.responses.retrieve(str(checkpoint.next_response_id))
        except openai.NotFoundError:
            return park.fall_back(lease, checkpoint, drive.outcome, "response_gone")
        drive.outcome.openai_requests += 1
        return await self._drive(drive, dict(checkpoint.request), response)

    async def _redispatch(self, park: Parking, drive: Drive) -> RunOutcome | None:
        """A crash mid-dispatch: send the step's unanswered calls again (same ids, so
        the same idempotency keys); the outcome when the run parks again, else ``None``."""
        checkpoint, lease = drive.held_step()
        todo, checkpoint = parking.redispatch_plan(checkpoint, self._clock())
        calls = park.tool_calls(checkpoint, todo, self.deadline_at(drive.started))
        results = await self._dispatch(drive, calls, park.wait_policy)
        checkpoint = park.after_dispatch(checkpoint, results, hold=park.parks)
        drive.step = (checkpoint, lease)
        if lease.lost:
            drive.abandon()
            return lost(drive.outcome, checkpoint.checkpoint_id)
        if checkpoint.held():
            drive.step = None
            return park.park(lease, checkpoint, drive.outcome)
        return None

    async def _submit(self, park: Parking, drive: Drive, follow_with: list[Any]) -> RunOutcome:
        """Every held send decided: submit the step's outputs and drive on; else the
        run stays parked."""
        checkpoint, lease = drive.held_step()
        decided = {}
        for call in checkpoint.held():
            assert call.held is not None  # held() holds only those
            # the hub may read the database: off the event loop (see ApprovalHub.current)
            heard = (
                await asyncio.to_thread(park.hub_decision, call.held.email_id)
                if park.reads_hub
                else None
            )
            result = park.decided(call, heard, "hub")
            if result is None:
                email = await self.dispatcher.fetch_email(call.held.email_id, call.held.mailbox_id)
                result = park.decided(call, email, "poll")
            if result is None:
                drive.step = None
                return still_parked(drive.outcome, lease)
            decided[call.call_id] = result
        outputs = park.outputs(checkpoint, decided)
        request = parking.follow_up_request(checkpoint, outputs, follow_with)
        try:
            response = await self._create(drive, request)
        except (openai.NotFoundError, openai.BadRequestError) as error:
            if not response_gone(error):
                raise
            drive.step = None
            return park.fall_back(lease, checkpoint, drive.outcome, "response_gone")
        if not drive.submitted(response, decided):
            return drive.outcome
        park.delivered(checkpoint, decided)
        return await self._drive(drive, dict(checkpoint.request), response)

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
        if self.on_event is not None:
            calls = watched(calls, drive.events)
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
        deadline = self.deadline_at(drive.started)
        park = self.parking if self.parking is not None and self.parking.parks else None
        try:
            while True:
                calls = calls_from_response(response, deadline=deadline)
                if not calls or getattr(response, "status", None) in STOP_STATUSES:
                    drive.close()
                    return self.finished(drive.outcome, response, drive.started)
                if park is None:
                    results = await self._dispatch(drive, calls, self.approvals)
                else:
                    if not drive.open(park, response, calls, request):
                        return drive.outcome
                    results = await self._dispatch(drive, calls, park.wait_policy)
                    parked = drive.after_dispatch(park, results)
                    if parked is not None:
                        return parked
                drive.outcome.steps += 1
                if drive.turns >= self.max_turns:
                    drive.close()
                    return self.out_of_turns(drive.outcome, response, drive.started)
                request = self.follow_up(request, response, [r.to_responses() for r in results])
                response = await self._create(drive, request)
                drive.turns += 1
                if not drive.record_submit(response):
                    return drive.outcome
        except StreamAborted:
            raise  # the callback stopped the run: the caller parks the held step
        except BaseException:
            drive.abandon()
            raise
