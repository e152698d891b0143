"""Script progress when the client sends its whole history and no ``previous_response_id``
(the Agents SDK's default): the script continues instead of restarting."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.sandbox.openai_api.support import Emulator, flat_tools

SCRIPT = [
    {"call": "check_inbox", "arguments": {"limit": 2}},
    {"call": "read_email", "arguments": {"email_id": "{{outputs.check_inbox.emails.0.id}}"}},
    {"say": "Read '{{outputs.read_email.subject}}'."},
]
TOOLS = flat_tools("check_inbox", "read_email")
OUTPUTS = {
    "check_inbox": {"emails": [{"id": "em_7"}, {"id": "em_8"}]},
    "read_email": {"subject": "Hello"},
}


@pytest.fixture
def scripted(emulator: Emulator) -> str:
    emulator.control.register_script("inbox", SCRIPT)
    return "scripted:inbox"


def run_whole_history(
    client: openai.OpenAI, model: str, history: list[dict[str, Any]], *, store: bool = True
) -> tuple[list[str], Any]:
    """The Agents SDK's loop: send everything so far, run the tools, until text."""
    called: list[str] = []
    for _ in range(5):
        response = client.responses.create(model=model, input=history, tools=TOOLS, store=store)
        history += [item.to_dict() for item in response.output]
        calls = [item for item in response.output if item.type == "function_call"]
        if not calls:
            return called, response
        for call in calls:
            called.append(call.name)
            output = {**OUTPUTS[call.name], "args": json.loads(call.arguments)}
            history.append(
                {
                    "type": "function_call_output",
                    "call_id": call.call_id,
                    "output": json.dumps(output),
                }
            )
    raise AssertionError(f"the loop did not end; tools called: {called}")


def test_whole_history_continues_the_script(client: openai.OpenAI, scripted: str) -> None:
    history: list[dict[str, Any]] = [{"role": "user", "content": "what is new?"}]
    called, final = run_whole_history(client, scripted, history)
    assert called == ["check_inbox", "read_email"]  # each tool once, no restart
    assert final.output_text == "Read 'Hello'."
    # the second call's template saw the first output, sent only as an input item
    read = next(
        i for i in history if i.get("type") == "function_call" and i["name"] == "read_email"
    )
    assert json.loads(read["arguments"]) == {"email_id": "em_7"}


def test_parallel_calls_held_back_continue_from_history(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.control.register_script(
        "pair",
        [
            {
                "calls": [
                    {"name": "check_inbox", "arguments": {}},
                    {"name": "read_email", "arguments": {}},
                ]
            },
            {"say": "both done"},
        ],
    )
    history: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    called = []
    for _ in range(4):
        response = client.responses.create(
            model="scripted:pair", input=history, tools=TOOLS, parallel_tool_calls=False
        )
        history += [item.to_dict() for item in response.output]
        calls = [i for i in response.output if i.type == "function_call"]
        if not calls:
            break
        called += [c.name for c in calls]
        history += [
            {"type": "function_call_output", "call_id": c.call_id, "output": "{}"} for c in calls
        ]
    assert called == ["check_inbox", "read_email"]
    assert response.output_text == "both done"


def test_foreign_history_starts_after_its_tool_rounds(client: openai.OpenAI, scripted: str) -> None:
    # a history the emulator never made (ids from elsewhere, e.g. another provider)
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "what is new?"},
        {
            "type": "function_call",
            "call_id": "call_elsewhere1",
            "name": "check_inbox",
            "arguments": "{}",
        },
        {
            "type": "function_call_output",
            "call_id": "call_elsewhere1",
            "output": json.dumps(OUTPUTS["check_inbox"]),
        },
    ]
    called, final = run_whole_history(client, scripted, history)
    assert called == ["read_email"]  # one tool round shown: the script starts at turn 2
    assert final.output_text == "Read 'Hello'."


def test_unstored_responses_fall_back_to_counting(client: openai.OpenAI, scripted: str) -> None:
    history: list[dict[str, Any]] = [{"role": "user", "content": "what is new?"}]
    called, final = run_whole_history(client, scripted, history, store=False)
    assert called == ["check_inbox", "read_email"]
    assert final.output_text == "Read 'Hello'."


def test_previous_response_id_still_wins(client: openai.OpenAI, scripted: str) -> None:
    first = client.responses.create(model=scripted, input="go", tools=TOOLS)
    call = first.output[0]
    assert call.type == "function_call"
    second = client.responses.create(
        model=scripted,
        previous_response_id=first.id,
        input=[
            {
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": json.dumps(OUTPUTS["check_inbox"]),
            }
        ],
        tools=TOOLS,
    )
    follow = second.output[0]
    assert follow.type == "function_call"
    assert follow.name == "read_email"
