"""`ResponsesDriver` and `AsyncResponsesDriver` against the sandbox's Responses API; the
async tests mirror the sync ones."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from mm_assistants.approvals import (
    ApprovalOutcome,
    ApprovalPolicy,
    MemoryPendingStore,
    PendingRecord,
    resolve_pending,
)
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.drivers import AsyncResponsesDriver, ResponsesDriver
from mm_assistants.sandbox import Sandbox
from tests.e2e.conftest import FAST_APPROVALS, Reviewer, deliveries, names, requests_to

CREATE = "POST /responses"
ASK = "Please handle my email."
SHORT = ApprovalPolicy(max_wait=0.5, margin=1, first_delay=0.05, max_interval=0.2)
ENDS = [
    pytest.param("fail", "failed", id="failed"),
    pytest.param("incomplete", "incomplete", id="incomplete"),
]


def test_a_single_tool_call(
    sandbox: Sandbox, inbound: dict[str, Any], openai_client: openai.OpenAI, dispatcher: Dispatcher
) -> None:
    outcome = ResponsesDriver(openai_client, dispatcher).run(ASK, model="scripted:inbox")

    assert outcome.status == "completed"
    assert names(outcome.tool_results) == ["check_inbox"]
    assert outcome.text == f"Newest: {inbound['id']}"
    assert outcome.openai_requests == requests_to(sandbox, CREATE) == 2


def test_parallel_calls_are_answered_in_one_request(
    sandbox: Sandbox, inbound: dict[str, Any], openai_client: openai.OpenAI, dispatcher: Dispatcher
) -> None:
    outcome = ResponsesDriver(openai_client, dispatcher).run(ASK, model="scripted:parallel")

    # the sandbox refuses a request that leaves a call of the conversation unanswered
    assert outcome.status == "completed"
    assert names(outcome.tool_results) == ["check_inbox", "list_mailboxes"]
    assert requests_to(sandbox, CREATE) == 2
    assert outcome.text == f"Looked at {sandbox.mailbox_id} and its inbox."


@pytest.mark.parametrize(
    ("action", "reason", "status"),
    [
        pytest.param("approve", None, "approved_and_sent", id="approved"),
        pytest.param("reject", "Not this quarter.", "rejected", id="rejected"),
    ],
)
def test_a_gated_send_reports_the_decision(
    action: str,
    reason: str | None,
    status: str,
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    dispatcher: Dispatcher,
) -> None:
    with Reviewer(sandbox, action, reason):
        outcome = ResponsesDriver(openai_client, dispatcher, approvals=FAST_APPROVALS).run(
            ASK, model="scripted:send"
        )

    assert outcome.status == "completed"
    [approval] = outcome.approvals
    assert approval.reason == reason
    answer = json.loads(outcome.tool_results[0].output)
    assert answer["status"] == status
    assert status in outcome.text  # the model's last words quote what it read
    sent = [(approval.email_id, ["bob@example.com"])] if action == "approve" else []
    assert deliveries(sandbox) == sent


def test_a_late_decision_reaches_a_callback(
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    dispatcher: Dispatcher,
    store: MemoryPendingStore,
) -> None:
    outcome = ResponsesDriver(openai_client, dispatcher, approvals=SHORT).run(
        ASK, model="scripted:send"
    )
    [approval] = outcome.approvals
    assert approval.decision == "pending"
    assert json.loads(outcome.tool_results[0].output)["status"] == "pending_send_approval"
    [record] = store.all()
    assert record.response_id is not None

    sandbox.multimail.decide(approval.email_id, "reject", "Wrong recipient.")
    heard: list[tuple[PendingRecord, ApprovalOutcome]] = []

    def fetch(email_id: str, mailbox_id: str) -> Any:
        return dispatcher.client.send(dispatcher.read_request(email_id, mailbox_id)).data

    resolve_pending(store, fetch, lambda rec, late: heard.append((rec, late)))

    [(rec, late)] = heard
    assert (rec.email_id, late.decision, late.reason) == (
        approval.email_id,
        "rejected",
        "Wrong recipient.",
    )
    assert store.all() == []


@pytest.mark.parametrize(("script", "status"), ENDS)
def test_failed_and_incomplete_responses_are_explicit(
    script: str, status: str, openai_client: openai.OpenAI, dispatcher: Dispatcher
) -> None:
    outcome = ResponsesDriver(openai_client, dispatcher).run(ASK, model=f"scripted:{script}")

    assert outcome.status == status
    if status == "failed":
        assert outcome.last_error.message == "The model is overloaded."
    else:
        assert outcome.incomplete_reason == "max_completion_tokens"


# -- asyncio -------------------------------------------------------------------------------


async def test_a_single_tool_call_async(
    sandbox: Sandbox,
    inbound: dict[str, Any],
    async_openai_client: openai.AsyncOpenAI,
    async_dispatcher: AsyncDispatcher,
) -> None:
    outcome = await AsyncResponsesDriver(async_openai_client, async_dispatcher).run(
        ASK, model="scripted:inbox"
    )

    assert outcome.status == "completed"
    assert outcome.text == f"Newest: {inbound['id']}"
    assert outcome.openai_requests == requests_to(sandbox, CREATE) == 2


async def test_parallel_calls_are_answered_in_one_request_async(
    sandbox: Sandbox,
    inbound: dict[str, Any],
    async_openai_client: openai.AsyncOpenAI,
    async_dispatcher: AsyncDispatcher,
) -> None:
    outcome = await AsyncResponsesDriver(async_openai_client, async_dispatcher).run(
        ASK, model="scripted:parallel"
    )

    assert outcome.status == "completed"
    assert names(outcome.tool_results) == ["check_inbox", "list_mailboxes"]
    assert requests_to(sandbox, CREATE) == 2


@pytest.mark.parametrize(
    ("action", "reason", "status"),
    [
        pytest.param("approve", None, "approved_and_sent", id="approved"),
        pytest.param("reject", "Not this quarter.", "rejected", id="rejected"),
    ],
)
async def test_a_gated_send_reports_the_decision_async(
    action: str,
    reason: str | None,
    status: str,
    sandbox: Sandbox,
    async_openai_client: openai.AsyncOpenAI,
    async_dispatcher: AsyncDispatcher,
) -> None:
    driver = AsyncResponsesDriver(async_openai_client, async_dispatcher, approvals=FAST_APPROVALS)
    with Reviewer(sandbox, action, reason):
        outcome = await driver.run(ASK, model="scripted:send")

    assert outcome.status == "completed"
    [approval] = outcome.approvals
    assert approval.reason == reason
    assert json.loads(outcome.tool_results[0].output)["status"] == status


async def test_still_pending_at_the_deadline_is_recorded_async(
    async_openai_client: openai.AsyncOpenAI,
    async_dispatcher: AsyncDispatcher,
    store: MemoryPendingStore,
) -> None:
    driver = AsyncResponsesDriver(async_openai_client, async_dispatcher, approvals=SHORT)
    outcome = await driver.run(ASK, model="scripted:send")

    [approval] = outcome.approvals
    assert approval.decision == "pending"
    assert [record.email_id for record in store.all()] == [approval.email_id]


@pytest.mark.parametrize(("script", "status"), ENDS)
async def test_failed_and_incomplete_responses_are_explicit_async(
    script: str,
    status: str,
    async_openai_client: openai.AsyncOpenAI,
    async_dispatcher: AsyncDispatcher,
) -> None:
    outcome = await AsyncResponsesDriver(async_openai_client, async_dispatcher).run(
        ASK, model=f"scripted:{script}"
    )

    assert outcome.status == status
