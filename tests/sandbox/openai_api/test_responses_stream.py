"""Streamed Responses through the SDK: the ``responses.stream`` helper and raw events."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from tests.sandbox.openai_api.support import Emulator, flat_tools

TEXT = "Looked up {{outputs.lookup.q}}, and here is a tail long enough for several deltas."
SCRIPT = [
    {"calls": [{"name": "lookup", "arguments": {"q": "alpha", "limit": 5, "nested": {"x": [1]}}}]},
    {"say": TEXT},
]
FINAL = "Looked up alpha, and here is a tail long enough for several deltas."


@pytest.fixture
def scripted(emulator: Emulator) -> str:
    emulator.control.register_script("lookup", SCRIPT)
    emulator.control.update(text_chunk_chars=8)
    return "scripted:lookup"


def plain(response: Any) -> Any:
    """A response as data, without the helper's ``parsed*`` additions."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if not k.startswith("parsed")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(response.to_dict())


def answer(response: Any) -> list[dict[str, Any]]:
    calls = [item for item in response.output if item.type == "function_call"]
    return [
        {"type": "function_call_output", "call_id": c.call_id, "output": c.arguments} for c in calls
    ]


def test_stream_helper_accumulates_arguments_and_text(client: openai.OpenAI, scripted: str) -> None:
    argument_deltas: list[str] = []
    with client.responses.stream(
        model=scripted, input="look it up", tools=flat_tools("lookup")
    ) as stream:
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                argument_deltas.append(event.delta)
        first = stream.get_final_response()
    call = first.output[0]
    assert call.type == "function_call"
    assert len(argument_deltas) > 1
    assert "".join(argument_deltas) == call.arguments
    assert json.loads(call.arguments) == {"q": "alpha", "limit": 5, "nested": {"x": [1]}}
    assert plain(client.responses.retrieve(first.id)) == plain(first)

    text_deltas: list[str] = []
    with client.responses.stream(
        model=scripted,
        previous_response_id=first.id,
        input=answer(first),
        tools=flat_tools("lookup"),
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                text_deltas.append(event.delta)
                assert event.snapshot == "".join(text_deltas)
        second = stream.get_final_response()
    assert len(text_deltas) > 1
    assert "".join(text_deltas) == FINAL == second.output_text
    assert second.status == "completed"
    assert plain(client.responses.retrieve(second.id)) == plain(second)


def test_raw_events_in_order_with_sequence_numbers(client: openai.OpenAI, scripted: str) -> None:
    first = client.responses.create(model=scripted, input="go", tools=flat_tools("lookup"))
    events = list(
        client.responses.create(
            model=scripted,
            previous_response_id=first.id,
            input=answer(first),
            tools=flat_tools("lookup"),
            stream=True,
        )
    )
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    deltas = kinds.count("response.output_text.delta")
    assert deltas == -(-len(FINAL) // 8)
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * deltas,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    created = events[0]
    assert created.type == "response.created"
    assert created.response.status == "in_progress"
    assert created.response.output == []
    added = events[2]
    assert added.type == "response.output_item.added"
    assert added.item.status == "in_progress"
    done = events[-1]
    assert done.type == "response.completed"
    assert done.response.id == created.response.id
    assert done.response.output_text == FINAL


def test_function_call_events(client: openai.OpenAI, scripted: str) -> None:
    events = list(
        client.responses.create(model=scripted, input="go", tools=flat_tools("lookup"), stream=True)
    )
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-3:] == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert set(kinds[3:-3]) == {"response.function_call_arguments.delta"}
    added = events[2]
    assert added.type == "response.output_item.added"
    assert added.item.type == "function_call"
    assert added.item.arguments == ""


@pytest.mark.parametrize(
    ("turn", "final", "status"),
    [
        pytest.param({"fail": "the model broke"}, "response.failed", "failed", id="failed"),
        pytest.param(
            {"incomplete": "max_output_tokens", "say": "partial answer"},
            "response.incomplete",
            "incomplete",
            id="incomplete",
        ),
    ],
)
def test_failed_and_incomplete_streams(
    client: openai.OpenAI, emulator: Emulator, turn: dict[str, Any], final: str, status: str
) -> None:
    emulator.control.register_script("short", [turn])
    events = list(client.responses.create(model="scripted:short", input="go", stream=True))
    last = events[-1]
    assert last.type == final
    assert last.response.status == status  # type: ignore[union-attr]
    assert "response.completed" not in [e.type for e in events]
    stored = client.responses.retrieve(last.response.id)  # type: ignore[union-attr]
    assert stored == last.response  # type: ignore[union-attr]
    if status == "failed":
        assert stored.error is not None
        assert stored.error.message == "the model broke"
    else:
        assert stored.output_text == "partial answer"
        assert stored.incomplete_details is not None


def test_latency_paces_the_stream(client: openai.OpenAI, scripted: str, emulator: Emulator) -> None:
    emulator.control.update(model_latency=0.3)
    started = time.monotonic()
    with client.responses.create(
        model=scripted, input="go", tools=flat_tools("lookup"), stream=True
    ) as stream:
        first_at = None
        for _event in stream:
            first_at = first_at or time.monotonic()
    finished = time.monotonic()
    assert first_at is not None
    assert first_at - started < 0.25
    assert finished - started >= 0.3


def test_disconnect_mid_stream_keeps_the_response(emulator: Emulator, scripted: str) -> None:
    emulator.control.update(model_latency=0.5, text_chunk_chars=1)
    body = {"model": scripted, "input": "go", "tools": flat_tools("lookup"), "stream": True}
    with emulator.http() as http, http.stream("POST", "/responses", json=body) as answer_:
        lines = answer_.iter_lines()
        created = next(line for line in lines if line.startswith("data: "))
    response_id = json.loads(created[len("data: ") :])["response"]["id"]
    # the server survives the disconnect and the response is stored as decided
    client = emulator.client()
    stored = client.responses.retrieve(response_id)
    assert stored.status == "completed"
    assert stored.output[0].type == "function_call"
    again = client.responses.create(model=scripted, input="next", tools=flat_tools("lookup"))
    assert again.status == "completed"


def test_background_is_refused(emulator: Emulator) -> None:
    with emulator.http() as http:
        answer_ = http.post("/responses", json={"model": "m", "background": True})
    assert answer_.status_code == 400
    assert answer_.json()["error"]["param"] == "background"


async def test_async_stream_helper(emulator: Emulator, scripted: str) -> None:
    async with openai.AsyncOpenAI(
        api_key="sk-test", base_url=emulator.base_url, max_retries=0, timeout=10
    ) as client:
        async with client.responses.stream(
            model=scripted, input="go", tools=flat_tools("lookup")
        ) as stream:
            deltas = [
                e.delta async for e in stream if e.type == "response.function_call_arguments.delta"
            ]
            first = await stream.get_final_response()
        assert "".join(deltas) == first.output[0].arguments  # type: ignore[union-attr]
        async with client.responses.stream(
            model=scripted,
            previous_response_id=first.id,
            input=answer(first),
            tools=flat_tools("lookup"),
        ) as stream:
            texts = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            second = await stream.get_final_response()
        assert "".join(texts) == FINAL
        assert plain(await client.responses.retrieve(second.id)) == plain(second)
