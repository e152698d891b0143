"""The Responses API through the SDK: function calls, outputs, chains and the output rule."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.sandbox.openai_api.support import Emulator, flat_tools

SCRIPT = [
    {
        "calls": [
            {"name": "lookup", "arguments": {"q": "a"}},
            {"name": "lookup", "arguments": {"q": "b"}},
        ]
    },
    {"say": "Looked up {{outputs.lookup.q}}."},
    {"say": "Second answer to: {{last_user_message}}"},
]


@pytest.fixture
def scripted(emulator: Emulator) -> str:
    emulator.control.register_script("lookup", SCRIPT)
    return "scripted:lookup"


def outputs_for(response: Any, text: str = '{"q": "b"}') -> list[dict[str, Any]]:
    calls = [item for item in response.output if item.type == "function_call"]
    return [{"type": "function_call_output", "call_id": c.call_id, "output": text} for c in calls]


def test_function_calls_then_text(client: openai.OpenAI, scripted: str) -> None:
    first = client.responses.create(model=scripted, input="look it up", tools=flat_tools("lookup"))
    assert first.status == "completed"
    calls = first.output
    assert [c.type for c in calls] == ["function_call", "function_call"]
    assert [json.loads(c.arguments)["q"] for c in calls] == ["a", "b"]  # type: ignore[union-attr]
    assert all(c.call_id.startswith("call_") and c.status == "completed" for c in calls)  # type: ignore[union-attr]
    assert first.output_text == ""

    second = client.responses.create(
        model=scripted,
        previous_response_id=first.id,
        input=outputs_for(first),
        tools=flat_tools("lookup"),
    )
    assert second.output_text == "Looked up b."
    assert second.previous_response_id == first.id
    assert client.responses.retrieve(second.id).output_text == "Looked up b."

    third = client.responses.create(
        model=scripted,
        previous_response_id=second.id,
        input="and again?",
        tools=flat_tools("lookup"),
    )
    assert third.output_text == "Second answer to: and again?"


def test_every_call_needs_an_output(client: openai.OpenAI, scripted: str) -> None:
    first = client.responses.create(model=scripted, input="go", tools=flat_tools("lookup"))
    partial = outputs_for(first)[:1]
    missing = first.output[1].call_id  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(
            model=scripted, previous_response_id=first.id, input=partial, tools=flat_tools("lookup")
        )
    assert caught.value.body["message"] == f"No tool output found for function call {missing}."  # type: ignore[index]

    with pytest.raises(openai.BadRequestError, match="No tool output found"):
        client.responses.create(
            model=scripted,
            previous_response_id=first.id,
            input="ignore them",
            tools=flat_tools("lookup"),
        )
    stray = [{"type": "function_call_output", "call_id": "call_stray", "output": "x"}]
    with pytest.raises(openai.BadRequestError, match="No tool call found for function call output"):
        client.responses.create(
            model=scripted,
            previous_response_id=first.id,
            input=outputs_for(first) + stray,
            tools=flat_tools("lookup"),
        )


def test_stateless_history_in_the_input(client: openai.OpenAI, scripted: str) -> None:
    first = client.responses.create(model=scripted, input="go", tools=flat_tools("lookup"))
    calls = [
        {"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments}  # type: ignore[union-attr]
        for c in first.output
    ]
    with pytest.raises(openai.BadRequestError, match="No tool output found"):
        client.responses.create(model=scripted, input=[{"role": "user", "content": "go"}, *calls])


def test_previous_response_must_exist(client: openai.OpenAI, scripted: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=scripted, input="x", previous_response_id="resp_nope")
    assert caught.value.param == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_nope")


def test_unstored_response_cannot_be_continued(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.control.register_script("hi", [{"say": "hi"}, {"say": "again"}])
    first = client.responses.create(model="scripted:hi", input="x", store=False)
    assert first.output_text == "hi"
    with pytest.raises(openai.BadRequestError, match="not found"):
        client.responses.create(model="scripted:hi", input="y", previous_response_id=first.id)


def test_parallel_tool_calls_false(client: openai.OpenAI, scripted: str) -> None:
    first = client.responses.create(
        model=scripted, input="go", tools=flat_tools("lookup"), parallel_tool_calls=False
    )
    assert len(first.output) == 1
    second = client.responses.create(
        model=scripted,
        previous_response_id=first.id,
        input=outputs_for(first),
        tools=flat_tools("lookup"),
        parallel_tool_calls=False,
    )
    assert json.loads(second.output[0].arguments) == {"q": "b"}  # type: ignore[union-attr]


def test_failed_and_incomplete(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.control.register_script("bad", [{"fail": {"code": "server_error", "message": "down"}}])
    emulator.control.register_script("short", [{"incomplete": "max_output_tokens", "say": "par"}])
    failed = client.responses.create(model="m", input="x", metadata={"script": "bad"})
    assert (failed.status, failed.error.message) == ("failed", "down")  # type: ignore[union-attr]
    short = client.responses.create(model="scripted:short", input="x")
    assert short.status == "incomplete"
    assert short.incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]
    assert short.output_text == "par"


def test_undeclared_function_fails_the_response(client: openai.OpenAI, scripted: str) -> None:
    response = client.responses.create(model=scripted, input="go", tools=flat_tools("other"))
    assert response.status == "failed"
    assert "lookup, which is not among the declared function tools" in response.error.message  # type: ignore[union-attr]


def test_poll_after_header_on_responses(
    client: openai.OpenAI, emulator: Emulator, scripted: str
) -> None:
    emulator.control.update(poll_after_ms=3)
    raw = client.responses.with_raw_response.create(
        model=scripted, input="go", tools=flat_tools("lookup")
    )
    assert raw.headers["openai-poll-after-ms"] == "3"
