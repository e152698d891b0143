"""`AsyncInboundRouter`: `InboundRouter` for asyncio (see `mm_assistants.inbound.router`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from mm_assistants.drivers import AsyncAssistantsRunDriver, AsyncResponsesDriver, RunOutcome
from mm_assistants.drivers.assistants_api import AsyncAssistantsAPI
from mm_assistants.inbound.core import RouterCore, logger
from mm_assistants.inbound.routing import Admitted, RouteResult, hold_call, thread_metadata
from mm_assistants.inbound.trust import TrustVerdict
from mm_assistants.state import InboundMessage
from mm_assistants.webhooks.events import WebhookEvent


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
        admitted = self.first_look(event)
        if isinstance(admitted, RouteResult):
            return admitted
        verdict = self._gate(admitted, await self._lookup(admitted))
        gated = self._after_gate(admitted, verdict)
        if isinstance(gated, RouteResult):
            await self._hold(admitted, verdict)
            return gated
        refused = self._admit(admitted, gated)
        if refused is not None:
            return refused
        if self.background:
            self._spawn(admitted.mm_thread_id, [gated])
            return RouteResult("started", admitted.email_id, admitted.mm_thread_id)
        outcomes = await self._drive(admitted.mm_thread_id, [gated])
        return RouteResult(
            "started", admitted.email_id, admitted.mm_thread_id, outcomes=tuple(outcomes)
        )

    async def drain(self) -> int:
        """Start every thread whose messages wait with no live run; how many started."""
        started = 0
        for mm_thread in self.store.stalled():
            messages = self.store.claim(mm_thread)
            if not messages:
                if messages is not None:
                    self.store.finish(mm_thread)
                continue
            started += 1
            if self.background:
                self._spawn(mm_thread, messages)
            else:
                await self._drive(mm_thread, messages)
        return started

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
        self.store.mark_seen(admitted.key)
        logger.info("inbound email %s held for a person: %s", admitted.email_id, verdict.reason)

    def _spawn(self, mm_thread: str, messages: list[InboundMessage]) -> None:
        task = asyncio.get_running_loop().create_task(self._drive_logged(mm_thread, messages))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drive_logged(
        self, mm_thread: str, messages: list[InboundMessage]
    ) -> list[RunOutcome]:
        try:
            return await self._drive(mm_thread, messages)
        except Exception:
            logger.exception(
                "inbound thread %s: the run failed; its messages are queued", mm_thread
            )
            raise

    async def _drive(self, mm_thread: str, messages: list[InboundMessage]) -> list[RunOutcome]:
        outcomes = []
        while messages:
            try:
                outcome = await self._turn(mm_thread, messages)
            except BaseException:
                self.store.release(mm_thread, messages)
                raise
            outcomes.append(outcome)
            self._report(mm_thread, outcome)
            messages = self.store.finish(mm_thread)
        return outcomes

    async def _turn(self, mm_thread: str, messages: list[InboundMessage]) -> RunOutcome:
        outcome: RunOutcome
        target = self.store.target(mm_thread)
        if self.assistant_id is None:
            outcome = await self.driver.run(
                self._responses_input(messages),
                model=self.model,
                instructions=self.instructions,
                previous_response_id=target,
                **self.run_params,
            )
            if outcome.run_id is not None:
                self.store.set_target(mm_thread, outcome.run_id)
            return outcome
        assistants = AsyncAssistantsAPI(self.openai)
        if target is None:
            metadata = thread_metadata(mm_thread, self.dispatcher.mailbox_id)
            target = (await assistants.create_thread([m.text for m in messages], metadata)).id
            self.store.set_target(mm_thread, target)
        else:
            for message in messages:
                await assistants.post_message(target, message.text)
        outcome = await self.driver.run(target, self.assistant_id, **self.run_params)
        return outcome
