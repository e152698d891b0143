"""The built-in ``email-assistant`` script end to end, with fake tool outputs.

The calls it makes are checked against the bundled strict-mode schemas, so the demo's
script and the tools cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from mm_assistants.tools import load_registry
from tests.sandbox.openai_api.support import Emulator

REGISTRY = load_registry("v1")
NAMES = ("check_inbox", "read_email", "reply_email")
INBOX = {"emails": [{"id": "em_7", "direction": "inbound"}, {"id": "em_6"}]}
EMAIL = {"id": "em_7", "status": "read", "untrusted": {"subject": "Question"}}


def run_assistant(
    client: openai.OpenAI, outputs: dict[str, Any]
) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    """Drive a run of the default script, answering each call from ``outputs``."""
    assistant = client.beta.assistants.create(
        model="gpt-4o", tools=REGISTRY.tools("assistants", tools=NAMES, profile=None)
    )
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Answer my mail"}]},
    )
    calls: list[tuple[str, dict[str, Any]]] = []
    for _ in range(6):
        run = client.beta.threads.runs.poll(run.id, thread_id=run.thread_id)
        if run.status != "requires_action":
            break
        answers = []
        for call in run.required_action.submit_tool_outputs.tool_calls:  # type: ignore[union-attr]
            arguments = json.loads(call.function.arguments)
            REGISTRY[call.function.name].validator.validate(arguments)
            calls.append((call.function.name, arguments))
            answers.append(
                {"tool_call_id": call.id, "output": json.dumps(outputs[call.function.name])}
            )
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=run.thread_id, tool_outputs=answers
        )
    return run, calls


def final_text(client: openai.OpenAI, run: Any) -> str:
    message = client.beta.threads.messages.list(run.thread_id, run_id=run.id).data[0]
    return message.content[0].text.value  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param(
            {
                "id": "em_8",
                "status": "approved_and_sent",
                "note": "A human approved the message and it was sent.",
            },
            "the reply was approved and sent",
            id="approved",
        ),
        pytest.param(
            {
                "id": "em_8",
                "status": "rejected",
                "reason": "Too informal",
                "note": "... it was not sent ...",
            },
            "the reviewer rejected it, so nothing was sent: Too informal",
            id="rejected",
        ),
        pytest.param(
            {"id": "em_8", "status": "pending_send_approval", "note": "Still waiting"},
            "awaits a human's approval",
            id="pending",
        ),
        pytest.param(
            {"error": {"type": "http_error", "message": "mailbox is read_only"}},
            "could not reply to email em_7: mailbox is read_only",
            id="error",
        ),
    ],
)
def test_email_assistant_reports_the_outcome(
    client: openai.OpenAI, reply: dict[str, Any], expected: str
) -> None:
    run, calls = run_assistant(
        client, {"check_inbox": INBOX, "read_email": EMAIL, "reply_email": reply}
    )
    assert run.status == "completed"
    assert [name for name, _ in calls] == list(NAMES)
    assert calls[0][1]["direction"] == "inbound"
    assert calls[0][1]["limit"] == 5
    assert calls[0][1]["sender"] is None
    assert calls[1][1] == {"email_id": "em_7", "mailbox_id": None}
    assert calls[2][1]["email_id"] == "em_7"
    assert "Thank you for your message" in calls[2][1]["markdown"]
    assert expected in final_text(client, run)


def test_empty_inbox_stops_early(client: openai.OpenAI) -> None:
    run, calls = run_assistant(client, {"check_inbox": {"emails": []}})
    assert [name for name, _ in calls] == ["check_inbox"]
    assert "no inbound email" in final_text(client, run)


def test_inbox_error_is_reported(client: openai.OpenAI) -> None:
    run, _ = run_assistant(client, {"check_inbox": {"error": {"message": "unauthorized"}}})
    assert final_text(client, run) == "I could not check the inbox: unauthorized"


def test_email_assistant_over_responses(client: openai.OpenAI, emulator: Emulator) -> None:
    tools = REGISTRY.tools("responses", tools=NAMES, profile=None)
    outputs = {
        "check_inbox": INBOX,
        "read_email": EMAIL,
        "reply_email": {"status": "rejected", "reason": "No"},
    }
    response = client.responses.create(model="gpt-4o", input="Answer my mail", tools=tools)
    for _ in range(4):
        calls = [item for item in response.output if item.type == "function_call"]
        if not calls:
            break
        response = client.responses.create(
            model="gpt-4o",
            previous_response_id=response.id,
            tools=tools,
            input=[
                {
                    "type": "function_call_output",
                    "call_id": c.call_id,
                    "output": json.dumps(outputs[c.name]),
                }
                for c in calls
            ],
        )
    assert response.output_text == (
        "I drafted a reply to email em_7, but the reviewer rejected it, so nothing was sent: No"
    )
