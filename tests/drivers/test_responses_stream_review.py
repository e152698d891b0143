"""The streaming Responses drivers under the review's hostile cases: a callback that raises
while an approval waits, a stream that breaks after its terminal event or on a
``conversation``, the request count of an aborted run, callbacks that return awaitables,
slow callbacks, a dispatch that fails with approval events pending, and a caller's own
``on_held`` and ``cancel``."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import openai
import pytest
import respx

from mm_assistants import AsyncResponsesDriver, ResponsesDriver
from mm_assistants.approvals import ApprovalPolicy, MemoryPendingStore
from mm_assistants.dispatch import (
    AsyncDispatcher,
    CallContext,
    Dispatcher,
    PendingApproval,
    ToolCall,
)
from mm_assistants.drivers import stream_emit
from mm_assistants.drivers.stream_emit import Emitter
from mm_assistants.drivers.stream_events import (
    AwaitingApproval,
    StreamEvent,
    TextDelta,
    TurnCompleted,
    TurnRetried,
)
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient
from tests.drivers.conftest import FAST, KEY, MM, Clock
from tests.drivers.fake_stream import StreamingFakeOpenAI
from tests.drivers.test_responses_driver import READ, SEND

FINAL = "All done; the send waits for a reviewer."
#: A wait nobody ends: only the callback's failure may stop it soon.
PATIENT = ApprovalPolicy(max_wait=60, first_delay=0.05, max_interval=0.1)


@pytest.fixture
def held(multimail: respx.MockRouter) -> respx.MockRouter:
    """An inbox email to read and a send that stays held (nobody decides)."""
    multimail.get("/v1/mailboxes/mbx_1/emails/em_in").respond(200, json={"id": "em_in"})
    multimail.post("/v1/mailboxes/mbx_1/send", name="send").respond(
        202, json={"id": "em_out", "status": "pending_send_approval"}
    )
    multimail.get("/v1/mailboxes/mbx_1/emails/em_out").respond(
        200, json={"id": "em_out", "status": "pending_send_approval"}
    )
    return multimail


def drive(mode: str, server: Any, pending: Any = None, **options: Any) -> Any:
    """One run of ``server``'s script, streamed, with the given driver options."""
    options.setdefault("approvals", PATIENT)
    extra = run_options(options)
    if mode == "sync":
        with MultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
            dispatcher = Dispatcher(client, mailbox_id="mbx_1", approval_store=pending)
            driver = ResponsesDriver(server.client(), dispatcher, stream=True, **options)
            return driver.run("Answer my email", model="fake", **extra)

    async def scenario() -> Any:
        async with AsyncMultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
            dispatcher = AsyncDispatcher(client, mailbox_id="mbx_1", approval_store=pending)
            driver = AsyncResponsesDriver(server.async_client(), dispatcher, stream=True, **options)
            return await driver.run("Answer my email", model="fake", **extra)

    return asyncio.run(scenario())


def run_options(options: dict[str, Any]) -> dict[str, Any]:
    return {"conversation": options.pop("conversation")} if "conversation" in options else {}


class Boom(Exception):
    pass


def raise_on_approval(event: StreamEvent) -> None:
    if isinstance(event, AwaitingApproval):
        raise Boom("the UI went away")


# -- finding 1: a raising callback ends the approval wait now --------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_callback_raising_as_an_approval_wait_begins_ends_the_wait_at_once(
    mode: str, clock: Clock, held: respx.MockRouter
) -> None:
    server = StreamingFakeOpenAI([[READ, SEND], FINAL], now=clock)
    pending = MemoryPendingStore()
    started = time.monotonic()
    outcome = drive(mode, server, pending, on_event=raise_on_approval)
    assert time.monotonic() - started < 1.5  # not PATIENT's 60 s
    assert (outcome.status, outcome.incomplete_reason) == ("aborted", "on_event_raised")
    assert str(outcome.last_error) == "the UI went away"
    assert outcome.approvals[0].decision == "pending"  # still held at MultiMail
    # the approval stays recorded, for a decision that comes later
    assert [r.email_id for r in pending.all()] == ["em_out"]
    assert held["send"].call_count == 1
    assert server.streamed == outcome.openai_requests == 1  # no further turn


def test_a_watched_call_keeps_the_callers_cancel_and_on_held() -> None:
    told: list[str] = []
    theirs = threading.Event()
    call = ToolCall(
        "c1", "send_email", "{}", CallContext(cancel=theirs, on_held=lambda i, p: told.append(i))
    )
    emitter = Emitter(lambda event: told.append(type(event).__name__))
    [watched] = emitter.watch([call], emitter.held)
    assert watched.context.on_held is not None
    assert watched.context.cancel is not None
    watched.context.on_held("c1", PendingApproval("em_1", "mbx_1", "pending_scan"))
    assert told == ["c1", "AwaitingApproval"]  # theirs first, then the driver's event
    assert not watched.context.cancel.is_set()
    theirs.set()  # the caller cancelling still ends the wait
    assert watched.context.cancel.is_set()

    other = Emitter(lambda event: None)
    [fresh] = other.watch([ToolCall("c2", "send_email", "{}")], other.held)
    assert fresh.context.cancel is not None
    other.fail(Boom())
    assert fresh.context.cancel.is_set()
    [late] = other.watch([ToolCall("c3", "send_email", "{}")], other.held)
    assert late.context.cancel is not None
    assert late.context.cancel.is_set()


# -- finding 2: a break after the terminal event ---------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_stream_breaking_after_its_terminal_event_keeps_the_response(
    mode: str, clock: Clock, held: respx.MockRouter
) -> None:
    seen: list[StreamEvent] = []
    server = StreamingFakeOpenAI([[READ], FINAL], now=clock)
    server.break_after_end = {0, 1}
    outcome = drive(mode, server, on_event=seen.append)
    assert outcome.status == "completed"
    assert not any(isinstance(e, TurnRetried) for e in seen)
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == FINAL  # said once
    assert outcome.openai_requests == server.streamed == 2


# -- finding 3: no second request on a conversation -----------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_conversation_turn_cut_mid_stream_is_retrieved_not_requested_again(
    mode: str, clock: Clock, held: respx.MockRouter
) -> None:
    seen: list[StreamEvent] = []
    server = StreamingFakeOpenAI([[READ], FINAL], now=clock)
    server.drops = {1: 5}  # the final answer's stream breaks after a few words
    outcome = drive(mode, server, on_event=seen.append, conversation="conv_1")
    assert outcome.status == "completed"
    assert outcome.text == FINAL
    assert server.streamed == 2  # the cut turn was not asked for again
    assert server.retrieved == ["resp_1"]
    assert outcome.openai_requests == 3  # two turns and the retrieval
    # the words missed by the cut arrive in one piece; nothing is repeated
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == FINAL
    assert isinstance(seen[-1], TurnCompleted)
    assert seen[-1].raw is None
    assert not any(isinstance(e, TurnRetried) for e in seen)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_conversation_turn_cut_before_it_was_named_raises(
    mode: str, clock: Clock, held: respx.MockRouter
) -> None:
    server = StreamingFakeOpenAI([[READ], FINAL], now=clock)
    server.drops = {0: 0}
    with pytest.raises(openai.APIConnectionError):
        drive(mode, server, conversation="conv_1")
    assert server.streamed == 1
    assert server.retrieved == []
    assert held.calls.call_count == 0  # nothing dispatched


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_chained_turn_cut_mid_stream_is_still_requested_again(
    mode: str, clock: Clock, held: respx.MockRouter
) -> None:
    server = StreamingFakeOpenAI([[READ], FINAL], now=clock)
    server.cuts = {1: ("error", 5)}  # previous_response_id: a retry is a harmless sibling
    outcome = drive(mode, server)
    assert outcome.text == FINAL
    assert server.retrieved == []
    assert outcome.openai_requests == server.streamed == 3


# -- finding 5: the request the callback stopped is counted ----------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_request_a_callback_stopped_is_counted(mode: str, clock: Clock) -> None:
    server = StreamingFakeOpenAI([FINAL], now=clock)

    def stop_at_words(event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            raise Boom("enough")

    outcome = drive(mode, server, on_event=stop_at_words)
    assert outcome.status == "aborted"
    assert outcome.openai_requests == server.streamed == 1


# -- finding 6: awaitables in a blocking driver ----------------------------------------------


class AsyncHandler:
    async def __call__(self, event: StreamEvent) -> None:
        return None


def test_a_blocking_driver_refuses_an_object_with_an_async_call() -> None:
    with pytest.raises(TypeError, match="AsyncResponsesDriver"):
        ResponsesDriver(None, None, stream=True, on_event=AsyncHandler())  # type: ignore[arg-type]


def test_a_callback_returning_an_awaitable_aborts_the_blocking_run(clock: Clock) -> None:
    server = StreamingFakeOpenAI([FINAL], now=clock)
    handler = AsyncHandler()

    def sneaky(event: StreamEvent) -> Any:  # a plain function handing back a coroutine
        return handler(event)

    outcome = drive("sync", server, on_event=sneaky)  # filterwarnings=error: no "never awaited"
    assert outcome.status == "aborted"
    assert isinstance(outcome.last_error, TypeError)
    assert "awaitable" in str(outcome.last_error)


# -- finding 7: where and how long the callback runs -----------------------------------------


def test_a_slow_callback_does_not_shorten_the_approval_wait(
    clock: Clock, held: respx.MockRouter
) -> None:
    def slow(event: StreamEvent) -> None:
        if isinstance(event, AwaitingApproval):
            time.sleep(0.4)

    server = StreamingFakeOpenAI([[SEND], FINAL], now=clock)
    quick = ApprovalPolicy(max_wait=0.6, first_delay=0.05, max_interval=0.1)
    outcome = drive("sync", server, on_event=slow, approvals=quick)
    assert outcome.status == "completed"
    assert outcome.approvals[0].waited >= 0.5  # the whole wait, after the callback


def test_an_async_callback_that_hangs_counts_as_raising(
    clock: Clock, held: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_emit, "CALLBACK_TIMEOUT", 0.2)

    async def hang(event: StreamEvent) -> None:
        if isinstance(event, AwaitingApproval):
            await asyncio.sleep(30)

    server = StreamingFakeOpenAI([[READ, SEND], FINAL], now=clock)
    started = time.monotonic()
    outcome = drive("async", server, on_event=hang)
    assert time.monotonic() - started < 2
    assert outcome.status == "aborted"
    assert isinstance(outcome.last_error, TimeoutError)


def test_a_failed_dispatch_leaves_no_approval_event_running(clock: Clock) -> None:
    cancelled: list[str] = []

    async def slow(event: StreamEvent) -> None:
        if not isinstance(event, AwaitingApproval):
            return
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(type(event).__name__)
            raise

    async def scenario() -> None:
        async with AsyncMultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
            dispatcher = AsyncDispatcher(client, mailbox_id="mbx_1")

            async def failing(calls: list[ToolCall], approvals: Any = None) -> Any:
                for call in calls:
                    assert call.context.on_held is not None
                    call.context.on_held(call.id, PendingApproval("em_1", "mbx_1", "pending_scan"))
                await asyncio.sleep(0.05)
                raise RuntimeError("the dispatcher broke")

            dispatcher.dispatch_many = failing  # type: ignore[method-assign]
            server = StreamingFakeOpenAI([[SEND], FINAL], now=clock)
            driver = AsyncResponsesDriver(
                server.async_client(), dispatcher, stream=True, on_event=slow
            )
            with pytest.raises(RuntimeError, match="broke"):
                await driver.run("Answer my email", model="fake")
            others = asyncio.all_tasks() - {asyncio.current_task()}
            assert not [t for t in others if not t.done()]

    asyncio.run(scenario())
    assert cancelled == ["AwaitingApproval"]
