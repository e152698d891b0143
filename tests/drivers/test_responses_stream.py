"""`ResponsesDriver(stream=True)` / `AsyncResponsesDriver(stream=True)` against a fake OpenAI
that streams SSE and a respx-mocked MultiMail: the same outcomes as without streaming,
events in order, a raising callback, broken streams."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
import respx

from mm_assistants import (
    ResponsesDriver,
)
from mm_assistants.drivers.stream_events import (
    AwaitingApproval,
    StreamEvent,
    TextDelta,
    ToolCallArgumentsDone,
    ToolCallStarted,
    ToolOutputReady,
    TurnRetried,
    TurnStarted,
)
from tests.drivers.conftest import Clock
from tests.drivers.fake_stream import StreamingFakeOpenAI
from tests.drivers.test_responses_driver import READ, SEND
from tests.drivers.test_responses_driver import run as drive

FINAL = "Replied; the reviewer rejected it."


@pytest.fixture
def mail(multimail: respx.MockRouter) -> respx.MockRouter:
    """An inbox email to read and a send held, then rejected."""
    multimail.get("/v1/mailboxes/mbx_1/emails/em_in").respond(200, json={"id": "em_in"})
    multimail.post("/v1/mailboxes/mbx_1/send", name="send").respond(
        202, json={"id": "em_out", "status": "pending_scan"}
    )
    multimail.get("/v1/mailboxes/mbx_1/emails/em_out").respond(
        200, json={"status": "rejected", "rejection_reason": "tone"}
    )
    return multimail


def summary(outcome: Any) -> dict[str, Any]:
    """What a user reads of an outcome, without timings."""
    data = outcome.as_dict()
    data.pop("duration_seconds")
    for part in (*data["tool_results"], *data["approvals"]):
        part.pop("duration_seconds", None)
        part.pop("waited_seconds", None)
        part.pop("status_checks", None)
    return data


SCENARIOS = [
    pytest.param([[READ, SEND], [READ], FINAL], {}, None, id="send-rejected"),
    pytest.param([[READ], [READ], [READ], "x"], {"max_turns": 2}, None, id="max-turns"),
    pytest.param(["x"], {}, "failed", id="failed"),
    pytest.param([[READ], "cut short"], {}, "incomplete", id="incomplete"),
]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(("script", "options", "final_status"), SCENARIOS)
def test_streaming_ends_with_the_same_outcome_as_not_streaming(
    mode: str,
    script: list[Any],
    options: dict[str, Any],
    final_status: str | None,
    clock: Clock,
    mail: respx.MockRouter,
) -> None:
    outcomes = []
    for stream in (False, True):
        server = StreamingFakeOpenAI(script, now=clock)
        if final_status is not None:
            server.final_status = final_status
        outcomes.append(drive(mode, server, stream=stream, **options))
        assert server.streamed == (outcomes[-1].openai_requests if stream else 0)
    plain, streamed = outcomes
    assert summary(streamed) == summary(plain)
    assert streamed.status == (final_status or ("incomplete" if options else "completed"))


def order(events: list[StreamEvent]) -> list[tuple[str, ...]]:
    """The events without text deltas, as comparable tuples."""
    shown = []
    for event in events:
        if isinstance(event, TextDelta):
            continue
        fields = [str(v) for k, v in vars(event).items() if k != "raw"]
        shown.append((type(event).__name__, *fields))
    return shown


EXPECTED_ORDER = [
    ("TurnStarted", "resp_0"),
    ("ToolCallStarted", "fc_0_0", "read_email"),
    ("ToolCallArgumentsDone", "fc_0_0", "read_email"),
    ("ToolCallStarted", "fc_0_1", "send_email"),
    ("ToolCallArgumentsDone", "fc_0_1", "send_email"),
    ("TurnCompleted", "resp_0", "completed"),
    ("AwaitingApproval", "fc_0_1", "em_out"),
    ("ToolOutputReady", "fc_0_0", "read_email", "True"),
    ("ToolOutputReady", "fc_0_1", "send_email", "True"),
    ("TurnStarted", "resp_1"),
    ("TurnCompleted", "resp_1", "completed"),
]


def test_events_arrive_in_order_and_the_deltas_make_the_final_text(
    clock: Clock, mail: respx.MockRouter
) -> None:
    seen: list[StreamEvent] = []
    server = StreamingFakeOpenAI([[READ, SEND], FINAL], now=clock)
    outcome = drive("sync", server, stream=True, on_event=seen.append)
    assert outcome.status == "completed"
    assert order(seen) == EXPECTED_ORDER
    deltas = [e.text for e in seen if isinstance(e, TextDelta)]
    assert len(deltas) > 1  # it came in pieces
    assert "".join(deltas) == outcome.text == FINAL
    started = next(e for e in seen if isinstance(e, TurnStarted))
    assert started.raw.type == "response.created"  # the SDK's event, for power users


def test_the_async_driver_awaits_an_async_callback(clock: Clock, mail: respx.MockRouter) -> None:
    seen: list[StreamEvent] = []

    async def on_event(event: StreamEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event)

    server = StreamingFakeOpenAI([[READ, SEND], FINAL], now=clock)
    outcome = drive("async", server, stream=True, on_event=on_event)
    assert order(seen) == EXPECTED_ORDER
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == outcome.text


class Boom(Exception):
    pass


def raising_on(kind: type[StreamEvent], name: str) -> Any:
    def on_event(event: StreamEvent) -> None:
        if isinstance(event, kind) and getattr(event, "name", name) == name:
            raise Boom(type(event).__name__)

    return on_event


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_callback_raising_before_the_calls_run_aborts_with_nothing_sent(
    mode: str, clock: Clock, mail: respx.MockRouter
) -> None:
    server = StreamingFakeOpenAI([[READ, SEND], FINAL], now=clock)
    on_event = raising_on(ToolCallArgumentsDone, "send_email")
    outcome = drive(mode, server, stream=True, on_event=on_event)
    assert (outcome.status, outcome.incomplete_reason) == ("aborted", "on_event_raised")
    assert isinstance(outcome.last_error, Boom)
    assert outcome.tool_results == []
    assert mail["send"].call_count == 0
    assert server.streamed == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_callback_raising_during_an_approval_wait_keeps_the_send_and_goes_no_further(
    mode: str, clock: Clock, mail: respx.MockRouter
) -> None:
    server = StreamingFakeOpenAI([[READ, SEND], [SEND], FINAL], now=clock)
    outcome = drive(mode, server, stream=True, on_event=raising_on(AwaitingApproval, ""))
    assert outcome.status == "aborted"
    assert str(outcome.last_error) == "AwaitingApproval"
    # the step's calls all finished and are kept; the outputs went nowhere, no new turn
    assert [r.name for r in outcome.tool_results] == ["read_email", "send_email"]
    assert outcome.approvals[0].decision == "pending"  # the wait ended with the callback
    assert mail["send"].call_count == 1
    assert server.streamed == outcome.openai_requests == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("how", ["error", "end"])
def test_a_stream_cut_mid_turn_is_requested_again_and_sends_once(
    mode: str, how: str, clock: Clock, mail: respx.MockRouter
) -> None:
    seen: list[StreamEvent] = []
    server = StreamingFakeOpenAI([[READ, SEND], FINAL], now=clock)
    server.cuts = {0: (how, 5)}  # the read call and the send's start were shown
    outcome = drive(mode, server, stream=True, on_event=seen.append)
    assert outcome.status == "completed"
    assert outcome.text == FINAL
    assert mail["send"].call_count == 1
    assert [r.name for r in outcome.tool_results] == ["read_email", "send_email"]
    retried = [e for e in seen if isinstance(e, TurnRetried)]
    assert [e.attempt for e in retried] == [1]
    assert ("ReadError" in retried[0].reason or "Connection" in retried[0].reason) == (
        how == "error"
    )
    assert outcome.openai_requests == server.streamed == 3
    before = seen.index(retried[0])
    assert any(isinstance(e, ToolCallStarted) for e in seen[:before])
    assert not any(isinstance(e, ToolOutputReady) for e in seen[:before])


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_stream_that_keeps_breaking_raises_with_nothing_dispatched(
    mode: str, clock: Clock, mail: respx.MockRouter
) -> None:
    server = StreamingFakeOpenAI([[READ, SEND], FINAL], now=clock)
    server.cuts = {0: ("error", 5)}
    with pytest.raises(openai.APIConnectionError):
        drive(mode, server, stream=True, stream_retries=0)
    assert mail["send"].call_count == 0
    assert server.streamed == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_error_event_raises_like_an_error_answer(
    mode: str, clock: Clock, mail: respx.MockRouter
) -> None:
    server = StreamingFakeOpenAI([[READ, SEND], FINAL], now=clock)
    server.error_event_on = 0
    with pytest.raises(openai.APIError, match="overloaded"):
        drive(mode, server, stream=True)
    assert mail["send"].call_count == 0


def test_bad_streaming_options() -> None:
    with pytest.raises(ValueError, match="on_event needs stream=True"):
        ResponsesDriver(None, None, on_event=print)  # type: ignore[arg-type]

    async def later(event: StreamEvent) -> None:
        return None

    with pytest.raises(TypeError, match="AsyncResponsesDriver"):
        ResponsesDriver(None, None, stream=True, on_event=later)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        ResponsesDriver(None, None, stream=True, on_event="print")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stream_retries"):
        ResponsesDriver(None, None, stream=True, stream_retries=-1)  # type: ignore[arg-type]
    shown = repr(ResponsesDriver(None, None, stream=True))  # type: ignore[arg-type]
    assert "stream=True" in shown
