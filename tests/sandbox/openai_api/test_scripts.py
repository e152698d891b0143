"""Script parsing, slot choice and templates (pure), and scripts registered at runtime."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from mm_assistants.sandbox.openai_api import (
    ConversationState,
    ScriptError,
    ToolExchange,
    load_script,
)
from mm_assistants.sandbox.openai_api.model import Progress, decide
from mm_assistants.sandbox.openai_api.state import ChatMessage
from mm_assistants.sandbox.openai_api.templates import TemplateError, render
from tests.sandbox.openai_api.support import Emulator, flat_tools

INBOX = json.dumps({"emails": [{"id": "em_1", "subject": "Hi"}], "count": 1})


def state(*outputs: tuple[str, str], user: str = "hello", turn: int = 0) -> ConversationState:
    return ConversationState(
        api="responses",
        turn=turn,
        messages=(ChatMessage("user", user),),
        tool_outputs=tuple(
            ToolExchange(f"call_{i}", n, "{}", o) for i, (n, o) in enumerate(outputs)
        ),
        tools=("check_inbox", "read_email"),
    )


def test_references_keep_json_types_or_interpolate() -> None:
    current = state(("check_inbox", INBOX))
    rendered = render(
        {
            "email_id": "{{outputs.check_inbox.emails.0.id}}",
            "count": "{{ outputs.check_inbox.count }}",
            "note": "Re: {{outputs.check_inbox.emails.-1.subject}} ({{outputs.check_inbox.count}})",
            "all": ["{{last_user_message}}"],
        },
        current,
    )
    assert rendered == {"email_id": "em_1", "count": 1, "note": "Re: Hi (1)", "all": ["hello"]}


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        pytest.param("{{outputs.read_email.id}}", "read_email has no output yet", id="no-output"),
        pytest.param("{{outputs.check_inbox.emails.3.id}}", "has no 'emails.3'", id="bad-index"),
        pytest.param("{{outputs.check_inbox.nope}}", "has no 'nope'", id="bad-key"),
        pytest.param("{{whatever}}", "unknown reference", id="unknown"),
    ],
)
def test_references_that_do_not_resolve(reference: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render(reference, state(("check_inbox", INBOX)))


def test_when_slots_pick_the_first_match_and_fall_back() -> None:
    script = load_script(
        "s",
        [
            {"call": "check_inbox", "arguments": {}},
            {"when": {"last_tool_output_contains": "rejected"}, "say": "rejected"},
            {"when": {"last_tool_output_contains": ["pending", "held"]}, "say": "pending"},
            {"say": "sent"},
            {"when": {"last_user_message_contains": "bye"}, "say": "bye"},
        ],
    )
    assert [len(slot) for slot in script.slots] == [1, 3, 1]
    for output, expected in [
        ('{"status":"rejected"}', "rejected"),
        ("HELD", "pending"),
        ("ok", "sent"),
    ]:
        chosen = script.next_turn(state(("check_inbox", output)), 1)
        assert chosen is not None
        assert (chosen[0].say, chosen[1]) == (expected, 2)
    assert script.next_turn(state(user="hi"), 2) is None  # nothing matches: the slot is skipped
    bye = script.next_turn(state(user="Bye now"), 2)
    assert bye is not None
    assert bye[0].say == "bye"


@pytest.mark.parametrize(
    "turns",
    [
        pytest.param("not a list", id="not-a-list"),
        pytest.param([{"say": "a", "call": "b"}], id="two-kinds"),
        pytest.param([{}], id="empty-turn"),
        pytest.param([{"call": "x", "arguments": "{not json"}], id="bad-json"),
        pytest.param([{"calls": []}], id="no-calls"),
        pytest.param([{"say": "x", "when": {"mood": "happy"}}], id="unknown-condition"),
        pytest.param([{"say": "x", "extra": 1}], id="unknown-key"),
        pytest.param([{"fail": 3}], id="bad-fail"),
    ],
)
def test_malformed_scripts_are_refused(turns: Any) -> None:
    with pytest.raises(ScriptError):
        load_script("bad", turns)


def test_decide_fails_loudly_on_script_mistakes() -> None:
    exhausted = decide(load_script("s", []), state(), Progress(), parallel=True, declared=None)
    assert (exhausted.kind, exhausted.text) == (
        "fail",
        "The script 's' has no turn left after 0 model turns.",
    )
    unresolved = decide(
        load_script("s", [{"say": "{{outputs.read_email.id}}"}]),
        state(),
        Progress(),
        parallel=True,
        declared=None,
    )
    assert unresolved.kind == "fail"
    assert "read_email has no output yet" in unresolved.text


def test_json_string_arguments_are_rendered_as_text() -> None:
    script = load_script(
        "s",
        [
            {
                "call": "read_email",
                "arguments": '{"email_id": "{{outputs.check_inbox.emails.0.id}}"}',
            }
        ],
    )
    decision = decide(
        script, state(("check_inbox", INBOX)), Progress(), parallel=True, declared=("read_email",)
    )
    assert decision.calls == (("read_email", '{"email_id": "em_1"}'),)


def test_register_over_http_and_use(client: openai.OpenAI, emulator: Emulator) -> None:
    http = emulator.http()
    answer = http.post(
        "/_emulator/scripts",
        json={"name": "hello", "turns": [{"say": "Hello {{last_user_message}}"}]},
    )
    assert answer.status_code == 201
    assert "hello" in http.get("/_emulator/scripts").json()["scripts"]
    bad = http.post("/_emulator/scripts", json={"name": "bad", "turns": [{"say": 1}]})
    assert bad.status_code == 400
    assert "'say' must be a string" in bad.json()["error"]["message"]
    assert http.post("/_emulator/settings", json={"model_latency": "slow"}).status_code == 400
    assert http.post("/_emulator/settings", json={"nope": 1}).status_code == 400
    assert client.responses.create(model="scripted:hello", input="Ada").output_text == "Hello Ada"

    http.post("/_emulator/settings", json={"default_script": "hello"})
    assert client.responses.create(model="gpt-4o", input="Bob").output_text == "Hello Bob"


def test_callable_script_sees_the_conversation(client: openai.OpenAI, emulator: Emulator) -> None:
    seen: list[ConversationState] = []

    def script(current: ConversationState) -> dict[str, Any] | None:
        seen.append(current)
        if current.turn == 0:
            return {"call": "check_inbox", "arguments": {"limit": 1}}
        return {"say": f"{len(current.output('check_inbox')['emails'])} email(s)"}

    emulator.control.register_script("fn", script)
    first = client.responses.create(
        model="scripted:fn", input="count", tools=flat_tools("check_inbox")
    )
    call_id = first.output[0].call_id  # type: ignore[union-attr]
    second = client.responses.create(
        model="scripted:fn",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call_id, "output": INBOX}],
        tools=flat_tools("check_inbox"),
    )
    assert second.output_text == "1 email(s)"
    assert seen[1].last_tool_name == "check_inbox"
    assert seen[1].last_user_message == "count"
    assert seen[1].api == "responses"


def test_unresolved_reference_fails_the_run(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.control.register_script("broken", [{"say": "{{outputs.check_inbox.id}}"}])
    assistant = client.beta.assistants.create(model="scripted:broken")
    run = client.beta.threads.create_and_run_poll(assistant_id=assistant.id)
    assert run.status == "failed"
    assert run.last_error is not None
    assert "check_inbox has no output yet" in run.last_error.message
