"""`AsyncAssistantsRunDriver`: `AssistantsRunDriver` for ``AsyncOpenAI`` and an
`AsyncDispatcher` (see `mm_assistants.drivers.assistants` for what a drive does).

Every decision is taken by `AssistantsDriverCore` and `steps.next_action`, shared with the
blocking driver; this class only awaits the requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import openai

from mm_assistants.approvals import (
    ApprovalOutcome,
    PendingRecord,
    PendingStore,
    decision_due,
)
from mm_assistants.approvals.store import claim, due_after_look, holding, unattended
from mm_assistants.dispatch import AsyncDispatcher, ToolResult
from mm_assistants.drivers.assistants_api import AsyncAssistantsAPI
from mm_assistants.drivers.assistants_core import (
    AssistantsDriverCore,
    RunState,
    held_record,
    late_decision_text,
    thread_params,
)
from mm_assistants.drivers.assistants_start import (
    AsyncLookups,
    KeyedMessage,
    start_keyed_async,
    start_params,
)
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.steps import (
    Cancel,
    Dispatch,
    Finish,
    Poll,
    is_terminal,
    rejects_outputs,
)


class AsyncAssistantsRunDriver(AssistantsDriverCore[openai.AsyncOpenAI, AsyncDispatcher]):
    """`AssistantsRunDriver` for ``AsyncOpenAI`` and an `AsyncDispatcher`.

    Cancelling the task that awaits a drive cancels the run server-side too.
    """

    asynchronous = True
    twin = "AssistantsRunDriver in blocking code"

    async def run(self, thread_id: str, assistant_id: str, **create_params: Any) -> RunOutcome:
        """Create a run on ``thread_id`` and drive it to its end (a busy thread's run is
        driven first)."""
        return await self.run_messages(thread_id, assistant_id, (), **create_params)

    async def run_messages(
        self,
        thread_id: str,
        assistant_id: str,
        messages: Sequence[KeyedMessage],
        *,
        check_posted: bool = True,
        **create_params: Any,
    ) -> RunOutcome:
        """`AssistantsRunDriver.run_messages`, awaited."""
        io = AsyncAssistantsAPI(self.openai)

        async def start(pending: Sequence[KeyedMessage]) -> RunOutcome:
            params = start_params(assistant_id, create_params, pending)
            return await self._start(
                thread_id,
                lambda io: io.create_run(thread_id, params),
                lambda io: io.stream_run(thread_id, params),
            )

        look = AsyncLookups(lambda: io.recent_messages(thread_id), lambda: io.latest_run(thread_id))
        return await start_keyed_async(
            thread_id,
            list(messages),
            check_posted=check_posted,
            look=look,
            start=start,
            attach=lambda run_id: self.attach(thread_id, run_id),
        )

    async def create_thread_and_run(
        self, assistant_id: str, messages: Iterable[Any], **params: Any
    ) -> RunOutcome:
        """Create a thread with ``messages``, run it, drive it."""
        body = thread_params(assistant_id, messages, params)
        return await self._start(
            None,
            lambda io: io.create_thread_and_run(body),
            lambda io: io.stream_thread_and_run(body),
        )

    async def attach(self, thread_id: str, run_id: str) -> RunOutcome:
        """Pick up a run someone else created and drive it from where it is."""
        return await self._start(thread_id, lambda io: io.retrieve(thread_id, run_id), None)

    async def resolve_pending(self, store: PendingStore | None = None) -> list[ApprovalOutcome]:
        """Post decisions that arrived after their run ended to the runs' threads.

        `mm_assistants.approvals.resolve_pending` with ``await``: each decided record is
        claimed first, so of several resolvers exactly one posts it."""
        chosen = store if store is not None else self.dispatcher.approval_store
        if chosen is None:
            return []
        delivered = []
        for record in unattended(chosen):
            email = await self.dispatcher.fetch_email(record.email_id, record.mailbox_id)
            due = due_after_look(chosen, record, email)
            if due is None:
                continue
            outcome, token = due
            with holding(chosen, record.email_id, token):
                await self.post_late_decision(record, outcome)
            delivered.append(outcome)
        return delivered

    async def resolve_decision(
        self, email_id: str, email: Mapping[str, Any], store: PendingStore | None = None
    ) -> ApprovalOutcome | None:
        """Post one decision a webhook brought to the thread of the run that left
        ``email_id`` pending (see `AssistantsRunDriver.resolve_decision`)."""
        chosen = store if store is not None else self.dispatcher.approval_store
        if chosen is None:
            return None
        due = decision_due(chosen, email_id, email)
        if due is None:
            return None
        record, outcome, token = due
        with holding(chosen, email_id, token):
            await self.post_late_decision(record, outcome)
        return outcome

    async def post_late_decision(self, record: PendingRecord, outcome: ApprovalOutcome) -> None:
        """Tell the thread of ``record`` how its held email ended (one user message)."""
        if record.thread_id is not None:
            await AsyncAssistantsAPI(self.openai).post_message(
                record.thread_id, late_decision_text(outcome)
            )

    # -- the loop -------------------------------------------------------------------

    async def _start(self, thread_id: str | None, create: Any, stream: Any) -> RunOutcome:
        io = AsyncAssistantsAPI(self.openai)
        state = self.new_state(thread_id)
        wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        state.wake = lambda: _call_soon(loop, wake.set)
        try:
            if self.mode == "stream" and stream is not None:
                await self._absorb_stream(state, await stream(io))
            else:
                self.absorb(state, *await create(io))
            return await self._drive(io, state, wake)
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel_quietly(io, state))
            raise
        finally:
            self.forget(state)

    async def _absorb_stream(self, state: RunState, stream: Any) -> None:
        events = [event async for event in stream]
        self.absorb_events(state, events)

    async def _drive(
        self, io: AsyncAssistantsAPI, state: RunState, wake: asyncio.Event
    ) -> RunOutcome:
        while True:
            action = self.next_for(state)
            if isinstance(action, Finish):
                if not state.streamed and state.run is not None:
                    state.messages = await io.new_messages(state.thread_id or "", state.run.id)
                return self.outcome(state, io.requests)
            if isinstance(action, Poll):
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), action.delay)
                wake.clear()
                self.absorb(state, *await io.retrieve(state.thread_id or "", state.run.id))
                state.polls += 1
            elif isinstance(action, Cancel):
                await self._cancel_run(io, state)
            elif isinstance(action, Dispatch):
                await self._step(io, state)

    async def _step(self, io: AsyncAssistantsAPI, state: RunState) -> None:
        results = await self.dispatcher.dispatch_many(
            self.calls_of(state), approvals=self.approvals
        )
        state.results.extend(results)
        state.steps += 1
        state.polls = 0
        if state.cancel_event.is_set():
            return  # cancelled meanwhile: no outputs, so the model takes no further turn
        outputs = [result.to_assistants() for result in results]
        thread_id, run_id = state.thread_id or "", state.run.id
        if self.expired(state):  # a call outlasted the run: a submit would be refused
            self.absorb(state, *await io.retrieve(thread_id, run_id))
            await self._post_unsubmitted(io, state, results)
            return
        self.begin_turn(state)
        try:
            if self.mode == "stream":
                await self._absorb_stream(state, await io.stream_submit(thread_id, run_id, outputs))
            else:
                self.absorb(state, *await io.submit(thread_id, run_id, outputs))
        except openai.BadRequestError as error:
            if not rejects_outputs(error):
                raise
            self.absorb(state, *await io.retrieve(thread_id, run_id))
            await self._post_unsubmitted(io, state, results)

    async def _post_unsubmitted(
        self, io: AsyncAssistantsAPI, state: RunState, results: list[ToolResult]
    ) -> None:
        """Tell the thread how the sends of a step that never reached the run ended."""
        store = self.dispatcher.approval_store
        for record, outcome in self.unsubmitted(state, results):
            if not is_terminal(state.status) or record.thread_id is None:
                continue  # the record stays for resolve_pending
            token = claim(store, record) if store is not None else None
            if store is not None and token is None:
                continue  # a resolver elsewhere is posting it
            with contextlib.suppress(openai.OpenAIError), held_record(store, record, token):
                await io.post_message(record.thread_id, late_decision_text(outcome))

    async def _cancel_run(self, io: AsyncAssistantsAPI, state: RunState) -> None:
        state.cancel_sent_at = self._clock()
        try:
            self.absorb(state, *await io.cancel(state.thread_id or "", state.run.id))
        except openai.BadRequestError:
            self.absorb(state, *await io.retrieve(state.thread_id or "", state.run.id))

    async def _cancel_quietly(self, io: AsyncAssistantsAPI, state: RunState) -> None:
        if state.run is None or is_terminal(state.status):
            return
        with contextlib.suppress(openai.OpenAIError):  # best effort: the task is ending
            await io.cancel(state.thread_id or "", state.run.id)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Any) -> None:
    loop.call_soon_threadsafe(callback)
