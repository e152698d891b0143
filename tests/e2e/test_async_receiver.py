"""`AsyncWebhookReceiver.handle` with an async driver and router: a late decision reaches
its thread, an inbound email is routed, and a failing part is reported, not raised."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from mm_assistants.approvals import ApprovalHub, ApprovalPolicy, MemoryPendingStore
from mm_assistants.dispatch import AsyncDispatcher
from mm_assistants.drivers import AsyncAssistantsRunDriver
from mm_assistants.inbound import AsyncInboundRouter
from mm_assistants.sandbox import Sandbox
from mm_assistants.webhooks import AsyncWebhookReceiver, parse_event
from tests.e2e.conftest import thread_texts
from tests.e2e.inbound import options, received

SHORT_WAIT = ApprovalPolicy(max_wait=0.3, margin=0, first_delay=0.1, max_interval=0.1)


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return options()


async def test_a_late_decision_and_an_inbound_email(
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    async_openai_client: openai.AsyncOpenAI,
    async_dispatcher: AsyncDispatcher,
    store: MemoryPendingStore,
    assistant_for: Any,
) -> None:
    driver = AsyncAssistantsRunDriver(async_openai_client, async_dispatcher, approvals=SHORT_WAIT)
    router = AsyncInboundRouter(
        async_openai_client, async_dispatcher, assistant_id=assistant_for("triage")
    )
    hub = ApprovalHub()
    receiver = AsyncWebhookReceiver("whsec_x", hub=hub, router=router, late_decisions=driver)

    ended = await driver.create_thread_and_run(assistant_for("send"), ["Send it"])
    [record] = store.all()
    assert ended.approvals[0].decision == "pending"
    sandbox.multimail.decide(record.email_id, "reject", "Too early")
    decided = parse_event(
        {
            "event": "oversight.rejected",
            "data": {"email_id": record.email_id, "reason": "Too early"},
        }
    )
    handled = await receiver.handle(decided)
    assert handled.errors == ()
    assert handled.late is not None
    assert (handled.late.decision, handled.late.reason) == ("rejected", "Too early")
    assert store.all() == []
    last = thread_texts(openai_client, ended.thread_id or "")[-1]
    assert "was rejected by a human (reason: Too early)" in last

    email = sandbox.multimail.inject_inbound(sender="a@b.example", subject="Hi", markdown="?")
    routed = await receiver.handle(received(email))
    assert routed.route is not None
    assert routed.route.action == "started"
    assert routed.route.outcomes[0].text == f"Handled {email['id']}"


async def test_a_failing_part_is_reported_and_the_rest_still_runs(
    async_dispatcher: AsyncDispatcher,
) -> None:
    class Broken:
        async def route(self, event: Any) -> None:
            raise RuntimeError("router is down")

    seen: list[str] = []

    async def on_event(event: Any) -> None:
        seen.append(event.type)

    hub = ApprovalHub()
    receiver = AsyncWebhookReceiver("whsec_x", hub=hub, router=Broken(), on_event=on_event)
    with hub.subscribe("em_1") as subscription:
        handled = await receiver.handle(
            parse_event({"event": "oversight.approved", "data": {"email_id": "em_1"}})
        )
        assert subscription.decision is not None
    assert handled.woke
    assert handled.errors == ("router: RuntimeError: router is down",)
    assert seen == ["oversight.approved"]
