"""Request checks answered in OpenAI's error shape (raw HTTP, to send what the SDK won't)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from mm_assistants.sandbox.openai_api import OpenAIEmulatorSettings
from tests.sandbox.openai_api.support import Emulator, function_tools

LONG = "x" * 513


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        pytest.param(
            "POST", "/assistants", "{nope", 400, "could not parse the JSON body", id="bad-json"
        ),
        pytest.param("POST", "/assistants", [1], 400, "must be a JSON object", id="not-object"),
        pytest.param(
            "POST", "/assistants", {"model": 1}, 400, "Invalid type for 'model'", id="model-type"
        ),
        pytest.param(
            "POST",
            "/assistants",
            {"model": "m", "tools": {}},
            400,
            "Invalid type for 'tools'",
            id="tools-type",
        ),
        pytest.param(
            "POST",
            "/assistants",
            {"model": "m", "tools": [{"type": "function", "function": {}}] * 129},
            400,
            "array too long",
            id="too-many-tools",
        ),
        pytest.param(
            "POST",
            "/assistants",
            {"model": "m", "tools": [{}]},
            400,
            "'tools[0].type'",
            id="tool-type",
        ),
        pytest.param(
            "POST",
            "/assistants",
            {"model": "m", "tools": [{"type": "function", "function": {}}]},
            400,
            "tools[0].function.name",
            id="tool-name",
        ),
        pytest.param(
            "POST",
            "/assistants",
            {"model": "m", "metadata": []},
            400,
            "Invalid type for 'metadata'",
            id="md-type",
        ),
        pytest.param(
            "POST",
            "/assistants",
            {"model": "m", "metadata": {str(i): "v" for i in range(17)}},
            400,
            "too many properties",
            id="md-count",
        ),
        pytest.param(
            "POST",
            "/assistants",
            {"model": "m", "metadata": {"k": 1}},
            400,
            "'metadata.k'",
            id="md-value",
        ),
        pytest.param(
            "POST",
            "/assistants",
            {"model": "m", "metadata": {"k": LONG}},
            400,
            "at most 512",
            id="md-long",
        ),
        pytest.param("GET", "/assistants?order=up", None, 400, "'order'", id="order"),
        pytest.param("GET", "/assistants?limit=x", None, 400, "'limit'", id="limit-type"),
        pytest.param("POST", "/threads", {"messages": {}}, 400, "'messages'", id="messages-type"),
        pytest.param(
            "POST", "/threads", {"messages": ["hi"]}, 400, "'messages[0]'", id="message-type"
        ),
        pytest.param(
            "POST",
            "/threads",
            {"messages": [{"role": "system", "content": "x"}]},
            400,
            ".role",
            id="role",
        ),
        pytest.param(
            "POST", "/threads", {"messages": [{"role": "user"}]}, 400, ".content", id="no-content"
        ),
        pytest.param(
            "POST",
            "/threads",
            {"messages": [{"role": "user", "content": 3}]},
            400,
            ".content",
            id="content-type",
        ),
        pytest.param("POST", "/threads/runs", {"thread": []}, 400, "'thread'", id="thread-type"),
        pytest.param("POST", "/threads/runs", {}, 400, "'assistant_id'", id="no-assistant"),
        pytest.param("POST", "/responses", {"input": "x"}, 400, "'model'", id="no-model"),
        pytest.param(
            "POST",
            "/responses",
            {"model": "m", "background": True},
            400,
            "does not support 'background: true'",
            id="background",
        ),
        pytest.param(
            "POST", "/responses", {"model": "m", "input": 3}, 400, "'input'", id="input-type"
        ),
        pytest.param(
            "POST", "/responses", {"model": "m", "input": [3]}, 400, "'input[0]'", id="item-type"
        ),
        pytest.param(
            "POST",
            "/responses",
            {"model": "m", "input": [{}]},
            400,
            "'input[0].type'",
            id="item-kind",
        ),
        pytest.param(
            "POST",
            "/responses",
            {"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]},
            400,
            "'input[0].output'",
            id="no-output",
        ),
        pytest.param(
            "POST",
            "/responses",
            {"model": "m", "input": [{"type": "function_call", "call_id": 1}]},
            400,
            "'input[0].call_id'",
            id="call-id-type",
        ),
        pytest.param(
            "POST",
            "/responses",
            {"model": "m", "previous_response_id": 5},
            400,
            "previous_response_id",
            id="prev",
        ),
        pytest.param(
            "POST",
            "/responses",
            {"model": "m", "parallel_tool_calls": "no"},
            400,
            "boolean",
            id="bool",
        ),
        pytest.param(
            "DELETE",
            "/responses/resp_x",
            None,
            404,
            "Response with id 'resp_x' not found.",
            id="del",
        ),
        pytest.param("PUT", "/assistants", None, 405, "Method not allowed", id="method"),
    ],
)
def test_refusals(
    emulator: Emulator, method: str, path: str, body: Any, status: int, message: str
) -> None:
    http = emulator.http()
    content = body if isinstance(body, str) else None
    answer = http.request(method, path, json=None if content else body, content=content)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"


def test_submit_shape_errors(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.control.register_script("one", [{"call": "f", "arguments": {}}])
    assistant = client.beta.assistants.create(model="scripted:one", tools=function_tools("f"))
    run = client.beta.threads.create_and_run_poll(assistant_id=assistant.id)
    url = f"/threads/{run.thread_id}/runs/{run.id}/submit_tool_outputs"
    call_id = run.required_action.submit_tool_outputs.tool_calls[0].id  # type: ignore[union-attr]
    http = emulator.http()
    cases = [
        ({}, "Missing required parameter: 'tool_outputs'."),
        ({"tool_outputs": {}}, "Invalid type for 'tool_outputs'"),
        ({"tool_outputs": [{}]}, "'tool_outputs[0].tool_call_id'"),
        ({"tool_outputs": [{"tool_call_id": call_id, "output": 1}]}, "'tool_outputs[0].output'"),
        (
            {"tool_outputs": [{"tool_call_id": call_id, "output": "a"}] * 2},
            f"Duplicate tool_call_id '{call_id}'",
        ),
    ]
    for body, message in cases:
        answer = http.post(url, json=body)
        assert answer.status_code == 400
        assert message in answer.json()["error"]["message"]


def test_threads_steps_and_responses_housekeeping(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.control.register_script("hi", [{"say": "hi"}])
    thread = client.beta.threads.update(
        client.beta.threads.create().id, metadata={"a": "b"}, tool_resources={}
    )
    assert thread.metadata == {"a": "b"}
    assistant = client.beta.assistants.create(model="scripted:hi")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    fetched = client.beta.threads.runs.steps.retrieve(step.id, thread_id=thread.id, run_id=run.id)
    assert fetched.type == "message_creation"
    with pytest.raises(openai.NotFoundError, match="No run step found"):
        client.beta.threads.runs.steps.retrieve("step_x", thread_id=thread.id, run_id=run.id)
    with pytest.raises(openai.NotFoundError, match="No message found"):
        client.beta.threads.messages.retrieve("msg_x", thread_id=thread.id)
    client.beta.threads.delete(thread.id)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)

    response = client.responses.create(model="scripted:hi", input="x")
    assert client.responses.delete(response.id) is None
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_settings_are_validated() -> None:
    for bad in (
        {"run_expiry_seconds": 0},
        {"poll_after_ms": -1},
        {"model_latency": -1.0},
        {"text_chunk_chars": 0},
        {"tool_outputs_limit": 0},
    ):
        with pytest.raises(ValueError):
            OpenAIEmulatorSettings(**bad)  # type: ignore[arg-type]


def test_settings_route_and_undeclared_check(client: openai.OpenAI, emulator: Emulator) -> None:
    http = emulator.http()
    assert http.get("/_emulator/settings").json()["default_script"] == "email-assistant"
    assert http.post("/_emulator/settings", json={"require_declared_tools": 1}).status_code == 400
    assert http.post("/_emulator/scripts", json={"turns": []}).status_code == 400
    emulator.control.update(require_declared_tools=False)
    emulator.control.register_script("call", [{"call": "anything", "arguments": "{}"}])
    response = client.responses.create(model="scripted:call", input="x")
    assert response.output[0].name == "anything"  # type: ignore[union-attr]
