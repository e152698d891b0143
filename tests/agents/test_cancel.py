"""A cancelled invocation on a sync Dispatcher sends nothing afterwards: the worker thread
stops before its next write or retry (the review's finding 2). The async path is cancelled
by asyncio itself, wherever it waits."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from agents.tool import invoke_function_tool
from agents.tool_context import ToolContext

from mm_assistants.agents import multimail_tools
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import AsyncDispatcher, AuditRecord, CallContext, Dispatcher, ToolCall
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient, RetryPolicy
from mm_assistants.sandbox import Sandbox
from tests.e2e.conftest import SEND, outbound

SEND_ROUTE = "POST /v1/mailboxes/{mailbox_id}/send"
ARGS = json.dumps(SEND)
#: Honours a long Retry-After, so a cancel lands while the client waits to retry.
PATIENT = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=30.0, jitter=0)


def throttle_once(sandbox: Sandbox) -> None:
    sandbox.faults.add(SEND_ROUTE, status=429, retry_after=20, next_n=1)


async def invoke_then_cancel(dispatcher: AsyncDispatcher | Dispatcher) -> None:
    tool = multimail_tools(dispatcher, approvals=ApprovalPolicy(wait=False))
    send_email = next(each for each in tool if each.name == "send_email")
    context = ToolContext(
        context=None, tool_name="send_email", tool_call_id="call_x", tool_arguments=ARGS
    )
    task = asyncio.create_task(
        invoke_function_tool(function_tool=send_email, context=context, arguments=ARGS)
    )
    await asyncio.sleep(0.5)  # the send was refused with 429; the retry waits 20 s
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancel_during_a_retry_wait_sends_nothing_sync(sandbox: Sandbox) -> None:
    records: list[AuditRecord] = []
    ended = threading.Event()

    def audit(record: AuditRecord) -> None:
        records.append(record)
        ended.set()

    throttle_once(sandbox)
    with MultiMailClient(
        api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, retry=PATIENT
    ) as client:
        dispatcher = Dispatcher(client, mailbox_id=sandbox.mailbox_id, audit=audit)
        began = time.monotonic()
        await invoke_then_cancel(dispatcher)
        # the worker thread ends at the cancel, not after the 20 s the server asked for
        assert await asyncio.to_thread(ended.wait, 5.0)
    assert time.monotonic() - began < 5
    assert [record.outcome for record in records] == ["cancelled"]
    await asyncio.sleep(0.2)
    assert outbound(sandbox) == []


async def test_a_cancel_during_a_retry_wait_sends_nothing_async(sandbox: Sandbox) -> None:
    throttle_once(sandbox)
    async with AsyncMultiMailClient(
        api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, retry=PATIENT
    ) as client:
        dispatcher = AsyncDispatcher(client, mailbox_id=sandbox.mailbox_id, audit=None)
        await invoke_then_cancel(dispatcher)
    await asyncio.sleep(0.5)
    assert outbound(sandbox) == []


def test_a_sync_dispatch_already_cancelled_reports_cancelled(sandbox: Sandbox) -> None:
    cancel = threading.Event()
    cancel.set()
    with MultiMailClient(api_key=sandbox.keys["send"], base_url=sandbox.multimail_url) as client:
        dispatcher = Dispatcher(client, mailbox_id=sandbox.mailbox_id, audit=None)
        result = dispatcher.dispatch(
            ToolCall("call_1", "send_email", ARGS, CallContext(cancel=cancel))
        )
    assert result.error_type == "cancelled"
    assert "nothing reached MultiMail" in json.loads(result.output)["error"]["message"]
    assert outbound(sandbox) == []
