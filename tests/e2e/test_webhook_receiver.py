"""Real webhooks: the sandbox signs and POSTs its events to a FastAPI app on loopback that
mounts `webhook_router`; approvals wake waiting runs at once, late decisions reach their
thread, and inbound email is routed to runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from fastapi import FastAPI

from mm_assistants.approvals import ApprovalHub, ApprovalPolicy, MemoryPendingStore
from mm_assistants.dispatch import Dispatcher
from mm_assistants.drivers import AssistantsRunDriver, RunOutcome
from mm_assistants.inbound import InboundRouter
from mm_assistants.multimail import MultiMailClient
from mm_assistants.sandbox import Sandbox
from mm_assistants.sandbox.serving import LoopbackServer
from mm_assistants.tools import ToolRegistry
from mm_assistants.webhooks import HandledEvent, WebhookReceiver
from mm_assistants.webhooks.fastapi import webhook_router
from tests.e2e.conftest import FAST_RETRY, Reviewer, requests_to, thread_texts
from tests.e2e.inbound import eventually, options, subscribe_receiver

#: So slow that a wait woken by anything but the hub would take far longer than the test.
SLOW_POLL = ApprovalPolicy(max_wait=60, margin=1, first_delay=30, max_interval=30)
RETRIEVE_EMAIL = "GET /v1/mailboxes/{mailbox_id}/emails/{email_id}"


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return options()


@dataclass
class Backend:
    """The user's backend: a dispatcher and driver that share a hub and a pending store,
    a router, and the receiver behind a real HTTP endpoint the sandbox delivers to."""

    sandbox: Sandbox
    hub: ApprovalHub
    store: MemoryPendingStore
    dispatcher: Dispatcher
    driver: AssistantsRunDriver
    router: InboundRouter
    handled: list[HandledEvent] = field(default_factory=list)
    outcomes: list[RunOutcome] = field(default_factory=list)

    def handled_types(self) -> list[str]:
        return [h.event.type for h in self.handled]


@pytest.fixture
def backend(
    sandbox: Sandbox, openai_client: openai.OpenAI, assistant_for: Any, registry: ToolRegistry
) -> Iterator[Backend]:
    port, secret = subscribe_receiver(sandbox)
    hub, store = ApprovalHub(), MemoryPendingStore()
    client = MultiMailClient(
        api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, retry=FAST_RETRY
    )
    dispatcher = Dispatcher(
        client,
        registry=registry,
        mailbox_id=sandbox.mailbox_id,
        audit=None,
        approval_hub=hub,
        approval_store=store,
    )
    driver = AssistantsRunDriver(openai_client, dispatcher, approvals=SLOW_POLL)
    outcomes: list[RunOutcome] = []
    router = InboundRouter(
        openai_client,
        dispatcher,
        assistant_id=assistant_for("triage"),
        driver=driver,
        background=True,
        on_outcome=lambda thread, outcome: outcomes.append(outcome),
    )
    handled: list[HandledEvent] = []

    class Recording(WebhookReceiver):
        def handle(self, event: Any) -> HandledEvent:
            result = super().handle(event)
            handled.append(result)
            return result

    receiver = Recording(secret, hub=hub, router=router, late_decisions=driver)
    app = FastAPI()
    app.include_router(webhook_router(receiver))
    with LoopbackServer(app, port=port, name="e2e-receiver"), router, client:
        yield Backend(sandbox, hub, store, dispatcher, driver, router, handled, outcomes)


def test_an_approval_webhook_wakes_the_waiting_run_before_any_poll(
    backend: Backend, openai_client: openai.OpenAI, assistant_for: Any
) -> None:
    with Reviewer(backend.sandbox, "approve"):
        outcome = backend.driver.create_thread_and_run(assistant_for("send"), ["Send it"])
    assert outcome.status == "completed"
    [approval] = outcome.approvals
    assert approval.decision == "approved"
    assert approval.woken_by == "hub"
    assert approval.waited < SLOW_POLL.first_delay  # woke before the first status check
    assert approval.status_checks == 0
    assert eventually(lambda: "oversight.approved" in backend.handled_types())


def test_a_rejection_webhook_carries_the_reason_to_the_model(
    backend: Backend, assistant_for: Any
) -> None:
    with Reviewer(backend.sandbox, "reject", reason="Wrong recipient"):
        outcome = backend.driver.create_thread_and_run(assistant_for("send"), ["Send it"])
    [approval] = outcome.approvals
    assert (approval.decision, approval.reason, approval.woken_by) == (
        "rejected",
        "Wrong recipient",
        "hub",
    )


def test_a_decision_after_the_run_ended_is_posted_to_its_thread(
    backend: Backend, openai_client: openai.OpenAI, assistant_for: Any
) -> None:
    backend.driver.approvals = ApprovalPolicy(
        max_wait=0.3, margin=0, first_delay=0.1, max_interval=0.1
    )
    outcome = backend.driver.create_thread_and_run(assistant_for("send"), ["Send it"])
    [approval] = outcome.approvals
    assert approval.decision == "pending"
    [record] = backend.store.all()
    backend.sandbox.multimail.decide(record.email_id, "approve")
    late = eventually(lambda: [h.late for h in backend.handled if h.late is not None])
    assert late[0].email_id == record.email_id
    assert late[0].woken_by == "webhook"
    assert backend.store.all() == []
    texts = thread_texts(openai_client, outcome.thread_id or "")
    expected = f"The email {record.email_id} you sent earlier was approved by a human and sent."
    assert texts[-1] == f"[MultiMail] {expected}"


def test_inbound_mail_is_delivered_verified_and_routed_to_a_run(backend: Backend) -> None:
    email = backend.sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject="Meeting", markdown="Thursday?"
    )
    [outcome] = eventually(lambda: backend.outcomes)
    assert outcome.status == "completed"
    assert outcome.text == f"Handled {email['id']}"
    routed = [
        h.route for h in backend.handled if h.route is not None and h.route.action == "started"
    ]
    assert [r.email_id for r in routed] == [email["id"]]


def test_mail_failing_authentication_is_held_without_a_run(backend: Backend) -> None:
    # The sandbox, like MultiMail, sends no message.received for spam it flagged itself;
    # a clean verdict with failed DKIM/SPF arrives, and the trust gate holds it.
    email = backend.sandbox.multimail.inject_inbound(
        sender="ceo@spoofed.example",
        subject="Wire money",
        markdown="Now",
        dkim="fail",
        spf="softfail",
    )
    held = eventually(
        lambda: [h.route for h in backend.handled if h.route and h.route.action == "held"]
    )
    assert held[0].email_id == email["id"]
    assert held[0].reason == "DKIM fail; SPF softfail"
    assert backend.outcomes == []
    assert requests_to(backend.sandbox, "POST /threads/{thread_id}/runs") == 0
