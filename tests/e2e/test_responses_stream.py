"""`ResponsesDriver(stream=True)` / `AsyncResponsesDriver(stream=True)` against the
emulator's streamed ``POST /responses``: gated sends approved and rejected while the run
streams, a parked run resumed streaming, and text deltas that make the final message."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from mm_assistants.approvals import ApprovalPolicy, MemoryPendingStore
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.drivers import AsyncResponsesDriver, ResponsesDriver
from mm_assistants.drivers.stream_events import (
    AwaitingApproval,
    StreamEvent,
    TextDelta,
    ToolCallArgumentsDone,
    ToolCallStarted,
    ToolOutputReady,
    TurnCompleted,
    TurnRetried,
)
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox
from mm_assistants.state import MemoryCheckpointStore
from tests.e2e.conftest import (
    FAST_APPROVALS,
    POLL_AFTER_MS,
    SCRIPTS,
    Reviewer,
    deliveries,
    requests_to,
    wait_until_held,
)
from tests.e2e.test_parked_runs import Worker

CREATE = "POST /responses"
ASK = "Please handle my email."
DECISIONS = [
    pytest.param("approve", None, "approved_and_sent", id="approved"),
    pytest.param("reject", "Not this quarter.", "rejected", id="rejected"),
]


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    """The e2e sandbox with text streamed in small pieces, so deltas are several."""
    return {
        "multimail_settings": MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05),
        "openai_settings": OpenAIEmulatorSettings(
            model_latency=0.0, poll_after_ms=POLL_AFTER_MS, scripts=SCRIPTS, text_chunk_chars=6
        ),
    }


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def check_send_events(events: list[StreamEvent], email_id: str) -> None:
    """The send's progress as a user sees it, in order."""
    kinds = [type(e) for e in events]
    started = kinds.index(ToolCallStarted)
    done = kinds.index(ToolCallArgumentsDone)
    first_turn_end = kinds.index(TurnCompleted)
    held = kinds.index(AwaitingApproval)
    ready = kinds.index(ToolOutputReady)
    assert started < done < first_turn_end < held < ready
    assert events[held] == AwaitingApproval(events[started].call_id, email_id)  # type: ignore[attr-defined]
    assert TurnRetried not in kinds


@pytest.mark.parametrize(("action", "reason", "status"), DECISIONS)
def test_a_gated_send_decided_while_the_run_streams(
    action: str,
    reason: str | None,
    status: str,
    sandbox: Sandbox,
    openai_client: openai.OpenAI,
    dispatcher: Dispatcher,
) -> None:
    events: list[StreamEvent] = []
    driver = ResponsesDriver(
        openai_client, dispatcher, approvals=FAST_APPROVALS, stream=True, on_event=events.append
    )
    with Reviewer(sandbox, action, reason):
        outcome = driver.run(ASK, model="scripted:send")

    assert outcome.status == "completed", outcome.as_dict()
    [approval] = outcome.approvals
    assert approval.reason == reason
    assert json.loads(outcome.tool_results[0].output)["status"] == status
    check_send_events(events, approval.email_id)
    assert text_of(events) == outcome.text
    assert status in outcome.text
    assert outcome.openai_requests == requests_to(sandbox, CREATE) == 2
    sent = [(approval.email_id, ["bob@example.com"])] if action == "approve" else []
    assert deliveries(sandbox) == sent


@pytest.mark.parametrize(("action", "reason", "status"), DECISIONS)
async def test_a_gated_send_decided_while_the_run_streams_async(
    action: str,
    reason: str | None,
    status: str,
    sandbox: Sandbox,
    async_openai_client: openai.AsyncOpenAI,
    async_dispatcher: AsyncDispatcher,
) -> None:
    events: list[StreamEvent] = []

    async def on_event(event: StreamEvent) -> None:
        events.append(event)

    driver = AsyncResponsesDriver(
        async_openai_client,
        async_dispatcher,
        approvals=FAST_APPROVALS,
        stream=True,
        on_event=on_event,
    )
    with Reviewer(sandbox, action, reason):
        outcome = await driver.run(ASK, model="scripted:send")

    assert outcome.status == "completed", outcome.as_dict()
    [approval] = outcome.approvals
    assert json.loads(outcome.tool_results[0].output)["status"] == status
    check_send_events(events, approval.email_id)
    assert text_of(events) == outcome.text


def test_text_deltas_make_the_final_message(
    sandbox: Sandbox,
    inbound: dict[str, Any],
    openai_client: openai.OpenAI,
    dispatcher: Dispatcher,
) -> None:
    events: list[StreamEvent] = []
    outcome = ResponsesDriver(openai_client, dispatcher, stream=True, on_event=events.append).run(
        ASK, model="scripted:inbox"
    )

    assert outcome.text == f"Newest: {inbound['id']}"
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert text_of(events) == outcome.text
    assert deltas[0].raw.type == "response.output_text.delta"


@pytest.mark.parametrize(("script", "status"), [("fail", "failed"), ("incomplete", "incomplete")])
def test_failed_and_incomplete_end_as_without_streaming(
    script: str, status: str, openai_client: openai.OpenAI, dispatcher: Dispatcher
) -> None:
    plain = ResponsesDriver(openai_client, dispatcher).run(ASK, model=f"scripted:{script}")
    streamed = ResponsesDriver(openai_client, dispatcher, stream=True).run(
        ASK, model=f"scripted:{script}"
    )
    assert (streamed.status, streamed.incomplete_reason) == (plain.status, plain.incomplete_reason)
    assert streamed.status == status
    assert str(streamed.last_error) == str(plain.last_error)


def test_a_parked_run_is_resumed_streaming(sandbox: Sandbox, store: MemoryPendingStore) -> None:
    checkpoints = MemoryCheckpointStore()
    parking_events: list[StreamEvent] = []
    first = Worker(sandbox, checkpoints, store, stream=True, on_event=parking_events.append)
    try:
        parked = first.driver.run(ASK, model="scripted:send")
    finally:
        first.close()
    assert parked.status == "parked", parked.as_dict()
    email = wait_until_held(sandbox)
    assert AwaitingApproval(parked.tool_results[0].call_id, email["id"]) in parking_events

    sandbox.multimail.decide(email["id"], "approve", None)
    resumed_events: list[StreamEvent] = []
    second = Worker(sandbox, checkpoints, store, stream=True, on_event=resumed_events.append)
    try:
        outcome = second.driver.resume(str(parked.checkpoint_id))
    finally:
        second.close()

    assert outcome.status == "completed", outcome.as_dict()
    assert json.loads(outcome.tool_results[-1].output)["status"] == "approved_and_sent"
    assert text_of(resumed_events) == outcome.text
    assert "approved_and_sent" in outcome.text
    assert len(deliveries(sandbox)) == 1
    assert checkpoints.get(str(parked.checkpoint_id)) is None


def test_a_callback_that_raises_while_a_parking_run_waits_parks_it_at_once_with_the_error(
    sandbox: Sandbox, store: MemoryPendingStore
) -> None:
    checkpoints = MemoryCheckpointStore()

    def on_event(event: StreamEvent) -> None:
        if isinstance(event, AwaitingApproval):
            raise RuntimeError("the UI went away")

    # parking only after a long wait: the callback's failure, not park_after, ends the wait
    patient = ApprovalPolicy(max_wait=60, park_after=30, first_delay=0.05, max_interval=0.2)
    first = Worker(sandbox, checkpoints, store, stream=True, on_event=on_event, approvals=patient)
    started = time.monotonic()
    try:
        outcome = first.driver.run(ASK, model="scripted:send")
    finally:
        first.close()
    assert time.monotonic() - started < 5
    # parked (resumable, and a router keeps the thread on it), with the callback's error
    assert (outcome.status, outcome.incomplete_reason) == ("parked", "on_event_raised")
    assert str(outcome.last_error) == "the UI went away"
    assert outcome.checkpoint_id is not None
    assert checkpoints.get(outcome.checkpoint_id) is not None
    assert requests_to(sandbox, CREATE) == 1  # the send's output went nowhere

    email = wait_until_held(sandbox)
    sandbox.multimail.decide(email["id"], "approve", None)
    second = Worker(sandbox, checkpoints, store, stream=True)
    try:
        resumed = second.driver.resume(outcome.checkpoint_id)
    finally:
        second.close()
    assert resumed.status == "completed", resumed.as_dict()
    assert len(deliveries(sandbox)) == 1  # sent once, by the first run's only call
