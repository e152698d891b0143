"""The Responses loop and the Chat Completions helper, sync and async."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx

from mm_assistants import (
    ApprovalPolicy,
    AsyncDispatcher,
    AsyncMultiMailClient,
    AsyncResponsesDriver,
    Dispatcher,
    MultiMailClient,
    ResponsesDriver,
    chat_tool_loop,
)
from tests.drivers.conftest import FAST, KEY, MM, Clock, fake

READ = ("read_email", {"email_id": "em_in"})
SEND = ("send_email", {"to": ["ana@example.com"], "subject": "Hi", "markdown": "Hello"})
QUICK = ApprovalPolicy(max_wait=2, first_delay=0.01, max_interval=0.02)


def run(mode: str, server: Any, **options: Any) -> Any:
    if mode == "sync":
        with MultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
            driver = ResponsesDriver(
                server.client(), Dispatcher(client, mailbox_id="mbx_1"), approvals=QUICK, **options
            )
            return driver.run("Answer my email", model="fake")

    async def scenario() -> Any:
        async with AsyncMultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
            driver = AsyncResponsesDriver(
                server.async_client(),
                AsyncDispatcher(client, mailbox_id="mbx_1"),
                approvals=QUICK,
                **options,
            )
            return await driver.run("Answer my email", model="fake")

    return asyncio.run(scenario())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_loop_sends_every_output_and_ends_with_text(
    mode: str, clock: Clock, multimail: respx.MockRouter
) -> None:
    multimail.get("/v1/mailboxes/mbx_1/emails/em_in").respond(200, json={"id": "em_in"})
    multimail.post("/v1/mailboxes/mbx_1/send").respond(
        202, json={"id": "em_out", "status": "pending_scan"}
    )
    multimail.get("/v1/mailboxes/mbx_1/emails/em_out").mock(
        side_effect=[httpx.Response(200, json={"status": "rejected", "rejection_reason": "tone"})]
    )
    server = fake([[READ, SEND], [READ], "Replied; the reviewer rejected it."], clock)
    outcome = run(mode, server)
    assert outcome.status == "completed"
    assert outcome.text == "Replied; the reviewer rejected it."
    assert outcome.openai_requests == 3
    assert outcome.steps == 2
    assert [r.name for r in outcome.tool_results] == ["read_email", "send_email", "read_email"]
    assert outcome.approvals[0].decision == "rejected"
    assert json.loads(outcome.tool_results[1].output)["reason"] == "tone"


def test_max_turns_ends_the_loop_as_incomplete(clock: Clock, multimail: respx.MockRouter) -> None:
    multimail.get("/v1/mailboxes/mbx_1/emails/em_in").respond(200, json={"id": "em_in"})
    outcome = run("sync", fake([[READ], [READ], [READ], "x"], clock), max_turns=2)
    assert (outcome.status, outcome.incomplete_reason) == ("incomplete", "max_turns")


def test_a_failed_response_stops_the_loop(clock: Clock, multimail: respx.MockRouter) -> None:
    server = fake(["x"], clock)
    server.final_status = "failed"
    assert run("sync", server).status == "failed"


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="max_turns"):
        ResponsesDriver(None, None, max_turns=0)


def test_chat_tool_loop(clock: Clock, multimail: respx.MockRouter) -> None:
    multimail.get("/v1/mailboxes/mbx_1/emails/em_in").respond(
        200, json={"id": "em_in", "subject": "Hi"}
    )
    server = fake([[READ], "Read it."], clock)
    with MultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
        outcome = chat_tool_loop(
            server.client(),
            Dispatcher(client, mailbox_id="mbx_1"),
            model="fake",
            messages=[{"role": "user", "content": "read it"}],
        )
    assert (outcome.status, outcome.text, outcome.openai_requests) == ("completed", "Read it.", 2)
    assert outcome.tool_results[0].ok
    with MultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
        looping = chat_tool_loop(
            fake([[READ], [READ]], clock).client(),
            Dispatcher(client, mailbox_id="mbx_1"),
            model="fake",
            messages=[],
            max_turns=1,
        )
    assert looping.status == "incomplete"


def test_chat_tool_loop_keeps_the_injected_clock_and_the_shared_outcome(
    clock: Clock, multimail: respx.MockRouter
) -> None:
    multimail.get("/v1/mailboxes/mbx_1/emails/em_in").respond(200, json={"id": "em_in"})
    ticks = iter([100.0, 107.5])
    with MultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
        outcome = chat_tool_loop(
            fake([[READ], "Read it."], clock).client(),
            Dispatcher(client, mailbox_id="mbx_1"),
            model="fake",
            messages=[{"role": "user", "content": "read it"}],
            clock=lambda: next(ticks),
        )
    assert outcome.duration == 7.5  # the loop's clock, not the wall's
    # built by the same code as the Responses drivers' outcome: the last answer is kept
    assert (outcome.status, outcome.run_id) == ("completed", outcome.run.id)
    with MultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
        ticks = iter([0.0, 3.0])
        looping = chat_tool_loop(
            fake([[READ], [READ]], clock).client(),
            Dispatcher(client, mailbox_id="mbx_1"),
            model="fake",
            messages=[],
            max_turns=1,
            clock=lambda: next(ticks),
        )
    assert (looping.status, looping.incomplete_reason, looping.duration) == (
        "incomplete",
        "max_turns",
        3.0,
    )
    assert looping.run is not None
