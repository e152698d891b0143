"""Reading calls from the three OpenAI APIs' objects and writing results back."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.beta.threads import Run
from openai.types.chat import ChatCompletionMessage
from openai.types.responses import Response

from mm_assistants.dispatch import (
    ToolCall,
    ToolResult,
    calls_from_chat_message,
    calls_from_response,
    calls_from_run,
)

RUN: dict[str, Any] = {
    "id": "run_1",
    "object": "thread.run",
    "assistant_id": "asst_1",
    "thread_id": "thread_1",
    "status": "requires_action",
    "created_at": 1,
    "expires_at": 601,
    "instructions": "",
    "model": "m",
    "tools": [],
    "parallel_tool_calls": True,
    "required_action": {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "read_email", "arguments": '{"email_id":"e"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "check_inbox", "arguments": "{}"},
                },
            ]
        },
    },
}


@pytest.mark.parametrize("shape", ["sdk", "dict"])
def test_calls_from_a_run_in_requires_action(shape: str) -> None:
    run = Run.model_validate(RUN) if shape == "sdk" else RUN
    calls = calls_from_run(run)
    assert [(c.id, c.name) for c in calls] == [("call_a", "read_email"), ("call_b", "check_inbox")]
    context = calls[0].context
    assert (context.run_id, context.thread_id, context.assistant_id) == (
        "run_1",
        "thread_1",
        "asst_1",
    )
    assert context.deadline == 601


def test_a_run_that_needs_nothing_gives_no_calls() -> None:
    assert calls_from_run({**RUN, "required_action": None, "status": "completed"}) == []


def test_calls_from_a_response() -> None:
    response = Response.model_validate(
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 1,
            "model": "m",
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [],
                },
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "call_z",
                    "name": "get_thread",
                    "arguments": '{"thread_id":"t"}',
                    "status": "completed",
                },
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    )
    (tool_call,) = calls_from_response(response, deadline=99.0)
    assert (tool_call.id, tool_call.name, tool_call.arguments) == (
        "call_z",
        "get_thread",
        '{"thread_id":"t"}',
    )
    assert tool_call.context.response_id == "resp_1"
    assert tool_call.context.deadline == 99.0


def test_calls_from_a_chat_message() -> None:
    function = {"name": "read_email", "arguments": '{"email_id":"e"}'}
    message = ChatCompletionMessage.model_validate(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_c", "type": "function", "function": function}],
        }
    )
    (tool_call,) = calls_from_chat_message(message)
    assert (tool_call.id, tool_call.name) == ("call_c", "read_email")


def test_dict_arguments_from_hand_built_calls_are_encoded() -> None:
    message = {"tool_calls": [{"id": "x", "function": {"name": "n", "arguments": {"a": 1}}}]}
    assert calls_from_chat_message(message)[0].arguments == '{"a": 1}'


def test_results_in_each_apis_shape() -> None:
    result = ToolResult(call_id="call_a", name="read_email", output='{"ok":true}', ok=True)
    assert result.to_assistants() == {"tool_call_id": "call_a", "output": '{"ok":true}'}
    assert result.to_responses() == {
        "type": "function_call_output",
        "call_id": "call_a",
        "output": '{"ok":true}',
    }
    assert result.to_chat() == {"role": "tool", "tool_call_id": "call_a", "content": '{"ok":true}'}


def test_reprs_hide_contents() -> None:
    call = ToolCall(id="c", name="send_email", arguments='{"markdown": "private words"}')
    result = ToolResult(call_id="c", name="send_email", output="private words", ok=True)
    assert "private words" not in repr(call)
    assert "private words" not in repr(result)
