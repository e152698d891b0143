"""`AsyncAssistantsRunDriver` (poll and stream) with ``openai.AsyncOpenAI`` against the
sandbox: the mirror of `test_assistants_sync.py`. What the model saw is read back with a
blocking client (``openai_client``)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from mm_assistants.approvals import ApprovalPolicy, MemoryPendingStore
from mm_assistants.dispatch import AsyncDispatcher
from mm_assistants.drivers import AsyncAssistantsRunDriver
from mm_assistants.drivers.assistants_core import Mode
from mm_assistants.sandbox import Sandbox
from tests.e2e.conftest import (
    FAST_APPROVALS,
    RETRIEVE,
    SUBMIT,
    PollPacer,
    Reviewer,
    deliveries,
    names,
    requests_to,
    submitted_outputs,
    thread_texts,
    when_held,
)

MODES = [pytest.param("poll", id="poll"), pytest.param("stream", id="stream")]
ASK = ["Please handle my email."]


def driver(
    client: openai.AsyncOpenAI,
    dispatcher: AsyncDispatcher,
    mode: Mode,
    approvals: ApprovalPolicy = FAST_APPROVALS,
    **options: Any,
) -> AsyncAssistantsRunDriver:
    return AsyncAssistantsRunDriver(client, dispatcher, mode=mode, approvals=approvals, **options)


@pytest.mark.parametrize("mode", MODES)
async def test_a_single_tool_call_completes_the_run(
    mode: Mode,
    inbound: dict[str, Any],
    openai_client: openai.OpenAI,
    async_dispatcher: AsyncDispatcher,
    async_openai_client: openai.AsyncOpenAI,
    assistant_for: Any,
) -> None:
    outcome = await driver(async_openai_client, async_dispatcher, mode).create_thread_and_run(
        assistant_for("inbox"), ASK
    )

    assert outcome.status == "completed"
    assert names(outcome.tool_results) == ["check_inbox"]
    assert outcome.tool_results[0].ok
    assert outcome.text == f"Newest: {inbound['id']}"
    [[inbox]] = submitted_outputs(openai_client, outcome.thread_id or "", outcome.run_id or "")
    assert [email["id"] for email in inbox["emails"]] == [inbound["id"]]


@pytest.mark.parametrize("mode", MODES)
async def test_parallel_calls_are_answered_in_one_submit(
    mode: Mode,
    sandbox: Sandbox,
    inbound: dict[str, Any],
    openai_client: openai.OpenAI,
    async_dispatcher: AsyncDispatcher,
    async_openai_client: openai.AsyncOpenAI,
    assistant_for: Any,
) -> None:
    outcome = await driver(async_openai_client, async_dispatcher, mode).create_thread_and_run(
        assistant_for("parallel"), ASK
    )

    assert outcome.status == "completed"
    assert names(outcome.tool_results) == ["check_inbox", "list_mailboxes"]
    assert outcome.steps == 1
    assert requests_to(sandbox, SUBMIT) == 1
    [[inbox, mailboxes]] = submitted_outputs(
        openai_client, outcome.thread_id or "", outcome.run_id or ""
    )
    assert [email["id"] for email in inbox["emails"]] == [inbound["id"]]
    assert mailboxes["mailboxes"][0]["id"] == sandbox.mailbox_id
    assert outcome.text == f"Looked at {sandbox.mailbox_id} and its inbox."


@pytest.mark.parametrize("mode", MODES)
async def test_an_approved_send_reaches_the_model_as_sent(
    mode: Mode,
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    async_dispatcher: AsyncDispatcher,
    async_openai_client: openai.AsyncOpenAI,
    assistant_for: Any,
) -> None:
    with Reviewer(sandbox, "approve"):
        outcome = await driver(async_openai_client, async_dispatcher, mode).create_thread_and_run(
            assistant_for("send"), ASK
        )

    assert outcome.status == "completed"
    [approval] = outcome.approvals
    assert approval.decision == "approved"
    answer = json.loads(outcome.tool_results[0].output)
    assert answer["status"] == "approved_and_sent"
    assert answer["id"] == approval.email_id
    assert '"approved_and_sent"' in outcome.text
    assert deliveries(sandbox) == [(approval.email_id, ["bob@example.com"])]


@pytest.mark.parametrize("mode", MODES)
async def test_a_rejected_send_reaches_the_model_with_the_reason(
    mode: Mode,
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    async_dispatcher: AsyncDispatcher,
    async_openai_client: openai.AsyncOpenAI,
    assistant_for: Any,
) -> None:
    with Reviewer(sandbox, "reject", "Do not promise numbers yet."):
        outcome = await driver(async_openai_client, async_dispatcher, mode).create_thread_and_run(
            assistant_for("send"), ASK
        )

    assert outcome.status == "completed"
    [approval] = outcome.approvals
    assert (approval.decision, approval.reason) == ("rejected", "Do not promise numbers yet.")
    [[answer]] = submitted_outputs(openai_client, outcome.thread_id or "", outcome.run_id or "")
    assert answer["status"] == "rejected"
    assert answer["reason"] == "Do not promise numbers yet."
    assert "Do not promise numbers yet." in outcome.text
    assert deliveries(sandbox) == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_decision_after_the_deadline_is_posted_to_the_thread(
    mode: Mode,
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    async_dispatcher: AsyncDispatcher,
    async_openai_client: openai.AsyncOpenAI,
    store: MemoryPendingStore,
    assistant_for: Any,
) -> None:
    short = ApprovalPolicy(max_wait=0.5, margin=1, first_delay=0.05, max_interval=0.2)
    drive = driver(async_openai_client, async_dispatcher, mode, short)
    outcome = await drive.create_thread_and_run(assistant_for("send"), ASK)

    assert outcome.status == "completed"
    [approval] = outcome.approvals
    assert approval.decision == "pending"
    assert json.loads(outcome.tool_results[0].output)["status"] == "pending_send_approval"
    assert [record.thread_id for record in store.all()] == [outcome.thread_id]
    assert await drive.resolve_pending() == []  # nobody decided yet: nothing to say

    sandbox.multimail.decide(approval.email_id, "approve")
    [late] = await drive.resolve_pending()

    assert late.decision == "approved"
    assert store.all() == []
    assert thread_texts(openai_client, outcome.thread_id or "")[-1] == (
        f"[MultiMail] The email {approval.email_id} you sent earlier was approved by a "
        "human and sent."
    )
    assert await drive.resolve_pending() == []  # delivered once


@pytest.mark.parametrize("mode", MODES)
async def test_the_wait_ends_in_time_for_a_run_about_to_expire(
    mode: Mode,
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    async_dispatcher: AsyncDispatcher,
    async_openai_client: openai.AsyncOpenAI,
    assistant_for: Any,
) -> None:
    sandbox.openai.update(run_expiry_seconds=3)
    patient = ApprovalPolicy(max_wait=60, margin=1.5, first_delay=0.05, max_interval=0.2)
    outcome = await driver(
        async_openai_client, async_dispatcher, mode, patient
    ).create_thread_and_run(assistant_for("send"), ASK)

    # nobody decides: the wait gives up before expiry, so the model still hears back
    assert outcome.status == "completed"
    assert [a.decision for a in outcome.approvals] == ["pending"]
    assert requests_to(sandbox, SUBMIT) == 1


@pytest.mark.parametrize("mode", MODES)
async def test_a_run_that_expires_during_the_wait_ends_expired(
    mode: Mode,
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    async_dispatcher: AsyncDispatcher,
    async_openai_client: openai.AsyncOpenAI,
    assistant_for: Any,
) -> None:
    short = ApprovalPolicy(max_wait=0.5, margin=1, first_delay=0.05, max_interval=0.2)
    # ten minutes pass (on the sandbox's clock) while the human has not decided
    mover = when_held(sandbox, lambda: sandbox.clock.advance(700))
    outcome = await driver(
        async_openai_client, async_dispatcher, mode, short
    ).create_thread_and_run(assistant_for("send"), ASK)
    mover.join()

    assert outcome.status == "expired"
    assert names(outcome.tool_results) == ["send_email"]  # the results are kept
    assert requests_to(sandbox, SUBMIT) == 1  # never submitted twice


@pytest.mark.parametrize("mode", MODES)
async def test_cancel_while_waiting_for_approval_cancels_the_run(
    mode: Mode,
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    async_dispatcher: AsyncDispatcher,
    async_openai_client: openai.AsyncOpenAI,
    assistant_for: Any,
) -> None:
    drive = driver(async_openai_client, async_dispatcher, mode)  # would wait 10 s for a human
    canceller = when_held(sandbox, drive.cancel)
    outcome = await drive.create_thread_and_run(assistant_for("send"), ASK)
    canceller.join()

    assert outcome.status == "cancelled"
    run = openai_client.beta.threads.runs.retrieve(
        outcome.run_id or "", thread_id=outcome.thread_id or ""
    )
    assert run.status == "cancelled"
    assert [a.decision for a in outcome.approvals] == ["pending"]  # the email stays held
    assert requests_to(sandbox, SUBMIT) == 0  # the model got no further turn


async def test_polling_follows_the_poll_after_header_as_it_changes(
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    async_dispatcher: AsyncDispatcher,
    async_openai_client: openai.AsyncOpenAI,
    assistant_for: Any,
) -> None:
    # The model thinks for 1 s. The header first says "poll every 10 ms"; after five polls
    # it says "every 400 ms": the rest of that second may then cost at most four polls.
    sandbox.openai.update(model_latency=1.0, poll_after_ms=10)
    assistant_id = assistant_for("hello")
    with PollPacer(sandbox, after=5, slow_ms=400) as pacer:
        outcome = await driver(async_openai_client, async_dispatcher, "poll").create_thread_and_run(
            assistant_id, ASK
        )

    assert (outcome.status, outcome.text) == ("completed", "Hello!")
    assert pacer.polls_before is not None
    assert requests_to(sandbox, RETRIEVE) - pacer.polls_before <= 4


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("script", "status"),
    [
        pytest.param("fail", "failed", id="failed"),
        pytest.param("incomplete", "incomplete", id="incomplete"),
    ],
)
async def test_failed_and_incomplete_runs_are_explicit(
    mode: Mode,
    script: str,
    status: str,
    openai_client: openai.OpenAI,
    async_dispatcher: AsyncDispatcher,
    async_openai_client: openai.AsyncOpenAI,
    assistant_for: Any,
) -> None:
    outcome = await driver(async_openai_client, async_dispatcher, mode).create_thread_and_run(
        assistant_for(script), ASK
    )

    assert outcome.status == status
    if status == "failed":
        assert outcome.last_error.code == "rate_limit_exceeded"
        assert outcome.last_error.message == "The model is overloaded."
    else:
        assert outcome.incomplete_reason == "max_completion_tokens"
        assert names(outcome.tool_results) == ["check_inbox"]
