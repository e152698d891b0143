"""A send whose answer is lost on the way back is retried with the same idempotency key
and stored once: the dispatcher and the MultiMail client end to end, sync and async."""

from __future__ import annotations

import json

import pytest

from mm_assistants.dispatch import AsyncDispatcher, CallContext, Dispatcher, ToolCall
from mm_assistants.sandbox import Sandbox
from tests.e2e.conftest import SEND, outbound

SEND_ROUTE = "POST /v1/mailboxes/{mailbox_id}/send"
CALL = ToolCall(
    id="call_send_1",
    name="send_email",
    arguments=json.dumps(SEND),
    context=CallContext(thread_id="thread_1", run_id="run_1"),
)


@pytest.fixture
def dropped_once(sandbox: Sandbox) -> Sandbox:
    """The first send is stored, then its connection is dropped without an answer."""
    sandbox.faults.add(SEND_ROUTE, commit_then_drop=True, next_n=1)
    return sandbox


def assert_sent_once(sandbox: Sandbox, output: str) -> None:
    answer = json.loads(output)
    [email] = outbound(sandbox)
    assert answer["id"] == email["id"]
    assert answer["status"] in ("pending_scan", "pending_send_approval", "already_sent")
    assert sandbox.counters.snapshot()["routes"][SEND_ROUTE] == 2  # the drop, then the retry


def test_a_dropped_send_is_stored_once(dropped_once: Sandbox, dispatcher: Dispatcher) -> None:
    result = dispatcher.dispatch(CALL)  # no approval wait: the send's own answer

    assert result.ok, result.output
    assert_sent_once(dropped_once, result.output)


async def test_a_dropped_send_is_stored_once_async(
    dropped_once: Sandbox, async_dispatcher: AsyncDispatcher
) -> None:
    result = await async_dispatcher.dispatch(CALL)

    assert result.ok, result.output
    assert_sent_once(dropped_once, result.output)
