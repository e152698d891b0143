"""`AsyncInboundRouter`: `InboundRouter` for asyncio (see `mm_assistants.inbound.router`).

Its stores (the route store, the approval and checkpoint stores it reads) are blocking: a
PostgreSQL store may wait seconds on a cold pool or a slow database. Every store call runs
in `asyncio.to_thread` (`AsyncInboundRouter._off`, the one place), so the event loop keeps
serving webhooks and other runs meanwhile; a run's claim is renewed by an `AsyncHeartbeat`
task, not by a thread of its own. Store calls and renewals share the loop's default
executor: with many concurrent runs on a slow store, give the loop a bigger one
(``loop.set_default_executor``) so renewals are not queued past the lease.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, ParamSpec, TypeVar

from mm_assistants.drivers import AsyncAssistantsRunDriver, AsyncResponsesDriver, RunOutcome
from mm_assistants.drivers.assistants_api import AsyncAssistantsAPI
from mm_assistants.drivers.assistants_start import KeyedMessage
from mm_assistants.inbound.core import RouterCore, logger
from mm_assistants.inbound.fleet import ResumeResult
from mm_assistants.inbound.routing import Admitted, RouteResult, hold_call, thread_metadata
from mm_assistants.inbound.trust import TrustVerdict
from mm_assistants.state import InboundMessage
from mm_assistants.state.heartbeat import AsyncHeartbeat
from mm_assistants.webhooks.events import WebhookEvent

P = ParamSpec("P")
T = TypeVar("T")


class AsyncInboundRouter(RouterCore):
    """`InboundRouter` for ``AsyncOpenAI`` and an `AsyncDispatcher`; ``background=True``
    drives runs in tasks of the running event loop (await `aclose` before it stops)."""

    asynchronous = True
    twin = "InboundRouter in blocking code"

    def __init__(self, openai_client: Any, dispatcher: Any, **options: Any) -> None:
        super().__init__(openai_client, dispatcher, **options)
        self._tasks: set[asyncio.Task[list[RunOutcome]]] = set()

    def _default_driver(self) -> Any:
        if self.assistant_id is not None:
            return AsyncAssistantsRunDriver(self.openai, self.dispatcher)
        return AsyncResponsesDriver(self.openai, self.dispatcher)

    async def route(self, event: WebhookEvent) -> RouteResult:
        """Handle one parsed webhook event; never raises for an event it does not handle."""
        admitted = await self._off(self.first_look, event)
        if isinstance(admitted, RouteResult):
            return admitted
        verdict = self._gate(admitted, await self._lookup(admitted))
        gated = self._after_gate(admitted, verdict)
        if isinstance(gated, RouteResult):
            await self._hold(admitted, verdict)
            return gated
        token = await self._off(self._admit, admitted, gated)
        if isinstance(token, RouteResult):
            return token
        if self.background:
            self._spawn(admitted.mm_thread_id, [gated], token)
            return RouteResult("started", admitted.email_id, admitted.mm_thread_id)
        outcomes = await self._drive(admitted.mm_thread_id, [gated], token)
        return RouteResult(
            "started", admitted.email_id, admitted.mm_thread_id, outcomes=tuple(outcomes)
        )

    async def drain(self) -> int:
        """Start every thread whose messages wait with no live run, then re-attach to the
        runs whose checkpoint claim lapsed (`InboundRouter.drain`); how many started."""
        started = 0
        for mm_thread in await self._off(self.store.stalled):
            claimed = await self._off(self._claim_stalled, mm_thread)
            if claimed is None:
                continue
            messages, token = claimed
            started += 1
            if self.background:
                self._spawn(mm_thread, messages, token)
            else:
                await self._drive(mm_thread, messages, token)
        for checkpoint in await self._off(self._lapsed_runs):
            resumed = await self.resume(checkpoint)
            started += resumed.action in ("resumed", "parked", "gone")
        return started

    async def resume(self, key: str) -> ResumeResult:
        """Resume the parked Responses run of a thread (``key``: the MultiMail thread id or
        the checkpoint id) once its held sends are decided: the mail queued while it was
        parked follows the function-call outputs in the same request, in order, and the
        thread is driven on as after any run (finished, parked again, or its queue run).

        ``busy`` (another resumer holds the run) keeps the thread parked with its mail
        queued: call again later; so does a resume that raises (the error is re-raised).
        A worker that died mid-resume is replaced by calling this again once its claim
        lapsed. Blocks (awaits) for the whole drive, whatever ``background`` says: call it
        from a worker."""
        located = await self._off(self._locate, key)
        if isinstance(located, ResumeResult):
            return located
        mm_thread, checkpoint = located
        taken = await self._off(self._take_parked, mm_thread, checkpoint)
        if isinstance(taken, ResumeResult):
            return taken
        token, queued = taken
        async with self._aheartbeat(mm_thread, token) as beat:
            try:
                outcome: RunOutcome = await self.driver.resume(
                    checkpoint, follow_with=self._responses_input(queued)
                )
            except BaseException:
                await self._off(self._resume_failed, mm_thread, checkpoint, token, queued)
                raise
        result, follow = await self._off(
            self._resume_settle, mm_thread, checkpoint, token, queued, outcome, beat
        )
        for reported in result.outcomes:
            self._report(mm_thread, reported)
        more = await self._drive(mm_thread, follow, token) if follow else []
        return replace(result, outcomes=(*result.outcomes, *more))

    async def resume_for_email(self, email_id: str) -> ResumeResult:
        """`resume` the parked run that waits for the held email ``email_id`` (found from
        its pending record in the dispatcher's ``approval_store``); call it when the
        email's decision arrives (an ``oversight.*`` webhook, a sweep)."""
        checkpoint = await self._off(self._checkpoint_for_email, email_id)
        if isinstance(checkpoint, ResumeResult):
            return checkpoint
        return await self.resume(checkpoint)

    async def join(self) -> None:
        """Wait for the background runs started so far (their failures are logged)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        """Wait for the background runs to end."""
        await self.join()

    async def __aenter__(self) -> AsyncInboundRouter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- I/O ----------------------------------------------------------------------------

    async def _off(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``call(*args, **kwargs)`` in a worker thread: every store call goes through here,
        so a slow or unreachable store never blocks the event loop."""
        return await asyncio.to_thread(call, *args, **kwargs)

    def _aheartbeat(self, mm_thread: str, token: int) -> AsyncHeartbeat:
        return AsyncHeartbeat(**self._beat_options(mm_thread, token))

    def _pending(self) -> int:
        return len(self._tasks)

    async def _lookup(self, admitted: Admitted) -> Mapping[str, Any] | None:
        if not self.trust.needs_lookup(admitted.event):
            return None
        mailbox = admitted.mailbox_id or self.dispatcher.mailbox_id
        if mailbox is None:
            return None
        email: Mapping[str, Any] | None = await self.dispatcher.fetch_email(
            admitted.email_id, mailbox
        )
        return email

    async def _hold(self, admitted: Admitted, verdict: TrustVerdict) -> None:
        result = await self.dispatcher.dispatch(hold_call(admitted, verdict, self.trust))
        if not result.ok:
            logger.warning("could not tag held email %s: %s", admitted.email_id, result.output)
        await self._off(self.store.mark_seen, admitted.key)
        logger.info("inbound email %s held for a person: %s", admitted.email_id, verdict.reason)

    def _spawn(
        self, mm_thread: str, messages: list[InboundMessage], token: int | None = None
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._drive_logged(mm_thread, messages, token)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drive_logged(
        self, mm_thread: str, messages: list[InboundMessage], token: int | None
    ) -> list[RunOutcome]:
        try:
            return await self._drive(mm_thread, messages, token)
        except Exception:
            logger.exception(
                "inbound thread %s: the run failed; its messages are queued", mm_thread
            )
            raise

    async def _drive(
        self, mm_thread: str, messages: list[InboundMessage], token: int | None = None
    ) -> list[RunOutcome]:
        """Drive the claimed thread until its queue is empty, it parks, or its claim is
        lost; the claim is renewed meanwhile and every write carries its token."""
        token = await self._off(self._own, mm_thread, messages, token)
        if token is None:
            return []
        outcomes = []
        while messages:
            async with self._aheartbeat(mm_thread, token) as beat:
                try:
                    outcome = await self._turn(mm_thread, messages, token)
                except BaseException:
                    # in a worker thread, which finishes even if this task is cancelled again
                    await self._off(self._run_failed, mm_thread, messages, token)
                    raise
            if outcome is None:  # the claim was lost before the run began
                break
            outcomes.append(outcome)
            self._report(mm_thread, outcome)
            messages = await self._off(self._settle, mm_thread, token, outcome, beat)
        return outcomes

    async def _turn(
        self, mm_thread: str, messages: list[InboundMessage], token: int
    ) -> RunOutcome | None:
        """One run over ``messages``; ``None`` (the messages given back) when a new
        Assistants thread cannot be recorded because another worker owns ``mm_thread``."""
        outcome: RunOutcome
        target = await self._off(self.store.target, mm_thread)
        if self.assistant_id is None:
            outcome = await self.driver.run(
                self._responses_input(messages),
                model=self.model,
                instructions=self.instructions,
                previous_response_id=target,
                **self._run_options(mm_thread),
            )
            return outcome  # its target is remembered by _settle, once the claim is known
        assistants = AsyncAssistantsAPI(self.openai)
        fresh = target is None
        if target is None:
            metadata = thread_metadata(mm_thread, self.dispatcher.mailbox_id)
            # an empty thread: its messages go with the run, so a crash posts none twice
            target = (await assistants.create_thread([], metadata)).id
            if not await self._off(self.store.set_target, mm_thread, target, token=token):
                # taken over meanwhile: the new owner runs these messages, on its own thread
                self._lost(mm_thread)
                await self._off(self.store.release, mm_thread, messages, token=token)
                return None
        # Posted with the run (additional_messages), each keyed by its email id: a retry
        # after a crash posts only what is not on the thread, or drives the run that has it.
        outcome = await self.driver.run_messages(
            target,
            self.assistant_id,
            [KeyedMessage(m.email_id, m.text) for m in messages],
            check_posted=not fresh,
            **self.run_params,
        )
        return outcome
