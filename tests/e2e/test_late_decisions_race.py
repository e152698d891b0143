"""Late decisions delivered by several resolvers at once reach their thread exactly once:
the async driver's ``resolve_pending`` claims each record through the store, like the
sync one."""

from __future__ import annotations

import asyncio
from typing import Any

import openai

from mm_assistants.approvals import ApprovalPolicy, MemoryPendingStore
from mm_assistants.dispatch import AsyncDispatcher
from mm_assistants.drivers import AsyncAssistantsRunDriver
from mm_assistants.sandbox import Sandbox
from tests.e2e.conftest import thread_texts

SHORT = ApprovalPolicy(max_wait=0.5, margin=1, first_delay=0.05, max_interval=0.2)


async def test_racing_async_resolvers_post_a_late_decision_once(
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    async_dispatcher: AsyncDispatcher,
    async_openai_client: openai.AsyncOpenAI,
    store: MemoryPendingStore,
    assistant_for: Any,
) -> None:
    drive = AsyncAssistantsRunDriver(async_openai_client, async_dispatcher, approvals=SHORT)
    outcome = await drive.create_thread_and_run(assistant_for("send"), ["Please handle my email."])
    [approval] = outcome.approvals
    assert approval.decision == "pending"
    sandbox.multimail.decide(approval.email_id, "approve")

    batches = await asyncio.gather(*(drive.resolve_pending() for _ in range(4)))

    assert sum(len(batch) for batch in batches) == 1
    assert store.all() == []
    late = [
        text
        for text in thread_texts(openai_client, outcome.thread_id or "")
        if "[MultiMail]" in text
    ]
    assert len(late) == 1
