"""The Assistants run lifecycle through the real SDK: the rules of OpenAI's tool loop."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.sandbox.openai_api.support import Emulator, function_tools

LOOKUP = [
    {"call": "lookup", "arguments": {"q": "first"}},
    {"say": "Found: {{outputs.lookup.answer}}"},
]
PARALLEL = [
    {
        "calls": [
            {"name": "lookup", "arguments": {"q": "a"}},
            {"name": "lookup", "arguments": {"q": "b"}},
        ]
    },
    {"say": "Both looked up."},
]


def start_run(
    client: openai.OpenAI, emulator: Emulator, turns: list[Any], **run: Any
) -> tuple[str, Any]:
    emulator.control.register_script("test", turns)
    assistant = client.beta.assistants.create(
        model="m", tools=function_tools("lookup"), metadata={"script": "test"}
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "go"}])
    created = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id, **run)
    return thread.id, created


def test_one_call_then_completed(client: openai.OpenAI, emulator: Emulator) -> None:
    thread_id, run = start_run(client, emulator, LOOKUP)
    assert run.status == "queued"
    assert run.expires_at == run.created_at + 600

    run = client.beta.threads.runs.poll(run.id, thread_id=thread_id)
    assert run.status == "requires_action"
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert (call.function.name, json.loads(call.function.arguments)) == ("lookup", {"q": "first"})

    run = client.beta.threads.runs.submit_tool_outputs(
        run.id,
        thread_id=thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": '{"answer": 42}'}],
    )
    assert run.status == "queued"
    run = client.beta.threads.runs.poll(run.id, thread_id=thread_id)
    assert run.status == "completed"
    assert run.completed_at is not None
    messages = client.beta.threads.messages.list(thread_id, run_id=run.id)
    assert messages.data[0].content[0].text.value == "Found: 42"  # type: ignore[union-attr]

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc")
    assert [s.type for s in steps.data] == ["tool_calls", "message_creation"]
    assert steps.data[0].step_details.tool_calls[0].function.output == '{"answer": 42}'  # type: ignore[union-attr]


def test_parallel_calls_are_submitted_together(client: openai.OpenAI, emulator: Emulator) -> None:
    thread_id, run = start_run(client, emulator, PARALLEL)
    run = client.beta.threads.runs.poll(run.id, thread_id=thread_id)
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert [json.loads(c.function.arguments)["q"] for c in calls] == ["a", "b"]

    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread_id, tool_outputs=[{"tool_call_id": calls[0].id, "output": "x"}]
        )
    assert caught.value.body["message"] == (  # type: ignore[index]
        f"Expected tool outputs for call_ids {[calls[0].id, calls[1].id]}, got {[calls[0].id]}"
    )
    with pytest.raises(openai.BadRequestError, match="Invalid tool_call_id: call_nope"):
        client.beta.threads.runs.submit_tool_outputs(
            run.id,
            thread_id=thread_id,
            tool_outputs=[{"tool_call_id": "call_nope", "output": "x"}],
        )

    outputs = [{"tool_call_id": c.id, "output": "ok"} for c in reversed(calls)]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread_id, tool_outputs=outputs
    )
    assert run.status == "completed"


def test_parallel_tool_calls_false_asks_one_at_a_time(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    thread_id, run = start_run(client, emulator, PARALLEL, parallel_tool_calls=False)
    assert run.parallel_tool_calls is False
    seen = []
    for _ in range(2):
        run = client.beta.threads.runs.poll(run.id, thread_id=thread_id)
        (call,) = run.required_action.submit_tool_outputs.tool_calls
        seen.append(json.loads(call.function.arguments)["q"])
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread_id, tool_outputs=[{"tool_call_id": call.id, "output": "ok"}]
        )
    assert seen == ["a", "b"]
    assert client.beta.threads.runs.poll(run.id, thread_id=thread_id).status == "completed"


def test_submit_to_a_run_that_does_not_wait(client: openai.OpenAI, emulator: Emulator) -> None:
    thread_id, run = start_run(client, emulator, [{"say": "hello"}])
    run = client.beta.threads.runs.poll(run.id, thread_id=thread_id)
    assert run.status == "completed"
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread_id, tool_outputs=[{"tool_call_id": "call_x", "output": "x"}]
        )
    assert caught.value.body["message"] == 'Runs in status "completed" do not accept tool outputs.'  # type: ignore[index]


def test_thread_is_locked_while_a_run_is_active(client: openai.OpenAI, emulator: Emulator) -> None:
    thread_id, run = start_run(client, emulator, LOOKUP)
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.messages.create(thread_id, role="user", content="more")
    assert caught.value.body["message"] == (  # type: ignore[index]
        f"Can't add messages to {thread_id} while a run {run.id} is active."
    )
    with pytest.raises(openai.BadRequestError, match=f"already has an active run {run.id}"):
        client.beta.threads.runs.create(thread_id, assistant_id=run.assistant_id)

    client.beta.threads.runs.cancel(run.id, thread_id=thread_id)
    assert client.beta.threads.runs.poll(run.id, thread_id=thread_id).status == "cancelled"
    client.beta.threads.messages.create(thread_id, role="user", content="now it works")


def test_expiry(client: openai.OpenAI, emulator: Emulator) -> None:
    thread_id, run = start_run(client, emulator, LOOKUP)
    run = client.beta.threads.runs.poll(run.id, thread_id=thread_id)
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    emulator.clock.shift(run.expires_at - emulator.clock() + 1)

    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread_id, tool_outputs=[{"tool_call_id": call.id, "output": "late"}]
        )
    assert caught.value.body["message"] == 'Runs in status "expired" do not accept tool outputs.'  # type: ignore[index]
    run = client.beta.threads.runs.retrieve(run.id, thread_id=thread_id)
    assert (run.status, run.required_action) == ("expired", None)
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id).data[0]
    assert step.status == "expired"


def test_expiry_setting_and_a_turn_due_before_expiry(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    emulator.control.update(run_expiry_seconds=30, model_latency=5.0)
    thread_id, run = start_run(client, emulator, [{"say": "done"}])
    assert run.expires_at == run.created_at + 30
    emulator.clock.shift(2)
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread_id).status == "in_progress"
    emulator.clock.shift(100)  # the turn was due at +5, before expiry: it completed then
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread_id).status == "completed"


def test_cancel(client: openai.OpenAI, emulator: Emulator) -> None:
    thread_id, run = start_run(client, emulator, LOOKUP)
    run = client.beta.threads.runs.poll(run.id, thread_id=thread_id)
    run = client.beta.threads.runs.cancel(run.id, thread_id=thread_id)
    assert run.status == "cancelling"
    run = client.beta.threads.runs.retrieve(run.id, thread_id=thread_id)
    assert (run.status, run.cancelled_at is not None) == ("cancelled", True)
    with pytest.raises(openai.BadRequestError, match="Cannot cancel run with status 'cancelled'"):
        client.beta.threads.runs.cancel(run.id, thread_id=thread_id)


@pytest.mark.parametrize(
    ("turn", "status", "detail"),
    [
        pytest.param(
            {"fail": {"code": "rate_limit_exceeded", "message": "slow down"}},
            "failed",
            ("last_error", {"code": "rate_limit_exceeded", "message": "slow down"}),
            id="failed",
        ),
        pytest.param(
            {"incomplete": "max_prompt_tokens", "say": "partial"},
            "incomplete",
            ("incomplete_details", {"reason": "max_prompt_tokens"}),
            id="incomplete",
        ),
    ],
)
def test_scripted_outcomes(
    client: openai.OpenAI, emulator: Emulator, turn: dict[str, Any], status: str, detail: Any
) -> None:
    thread_id, run = start_run(client, emulator, [turn])
    run = client.beta.threads.runs.poll(run.id, thread_id=thread_id)
    assert run.status == status
    field, value = detail
    assert getattr(run, field).model_dump() == value


def test_poll_after_header(client: openai.OpenAI, emulator: Emulator) -> None:
    thread_id, run = start_run(client, emulator, LOOKUP)
    raw = client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread_id)
    assert "openai-poll-after-ms" not in raw.headers

    answer = emulator.http().post("/_emulator/settings", json={"poll_after_ms": 7})
    assert answer.json()["poll_after_ms"] == 7
    raw = client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread_id)
    assert raw.headers["openai-poll-after-ms"] == "7"

    emulator.control.update(poll_after_ms=None)
    raw = client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread_id)
    assert "openai-poll-after-ms" not in raw.headers


def test_submit_over_512_kb_is_refused(client: openai.OpenAI, emulator: Emulator) -> None:
    thread_id, run = start_run(client, emulator, PARALLEL)
    run = client.beta.threads.runs.poll(run.id, thread_id=thread_id)
    half = "x" * (256 * 1024 + 1)
    outputs = [
        {"tool_call_id": c.id, "output": half}
        for c in run.required_action.submit_tool_outputs.tool_calls
    ]
    with pytest.raises(openai.BadRequestError, match="512 KB"):
        client.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread_id, tool_outputs=outputs
        )
    assert (
        client.beta.threads.runs.retrieve(run.id, thread_id=thread_id).status == "requires_action"
    )


def test_run_overrides_and_additional_messages(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.control.register_script("echo", [{"say": "You said: {{last_user_message}}"}])
    assistant = client.beta.assistants.create(model="m", instructions="base")
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(
        thread.id,
        assistant_id=assistant.id,
        instructions="override",
        additional_instructions="and more",
        additional_messages=[{"role": "user", "content": "extra"}],
        tools=function_tools("other"),
        metadata={"script": "echo"},
        model="scripted:ignored-since-metadata-wins",
    )
    assert run.instructions == "override\n\nand more"
    assert [t.function.name for t in run.tools] == ["other"]  # type: ignore[union-attr]
    run = client.beta.threads.runs.poll(run.id, thread_id=thread.id)
    assert run.status == "completed"
    texts = [
        m.content[0].text.value for m in client.beta.threads.messages.list(thread.id, order="asc")
    ]  # type: ignore[union-attr]
    assert texts == ["extra", "You said: extra"]
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [run.id]


def test_create_and_run(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.control.register_script("hi", [{"say": "hi"}])
    assistant = client.beta.assistants.create(model="scripted:hi")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "hello"}]}
    )
    assert run.status == "completed"
    assert len(client.beta.threads.messages.list(run.thread_id).data) == 2


def test_unknown_assistant_and_script(client: openai.OpenAI, emulator: Emulator) -> None:
    thread = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError, match="No assistant found with id 'asst_nope'"):
        client.beta.threads.runs.create(thread.id, assistant_id="asst_nope")
    assistant = client.beta.assistants.create(model="m", metadata={"script": "missing"})
    with pytest.raises(openai.BadRequestError, match="Unknown script 'missing'"):
        client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.NotFoundError, match="No run found"):
        client.beta.threads.runs.retrieve("run_nope", thread_id=thread.id)


def test_counters(client: openai.OpenAI, emulator: Emulator) -> None:
    thread_id, run = start_run(client, emulator, LOOKUP)
    client.beta.threads.runs.retrieve(run.id, thread_id=thread_id)
    http = emulator.http()
    counts = http.get("/_emulator/counters").json()
    assert counts["routes"]["POST /threads/{thread_id}/runs"] == 1
    assert counts["runs"] == {run.id: 2}
    assert counts["total"] == 4  # assistant, thread, run, retrieve
    assert http.delete("/_emulator/counters").json()["total"] == 4
    assert emulator.control.counters()["total"] == 0


def test_restart_keeps_runs(client: openai.OpenAI, emulator: Emulator, start_emulator: Any) -> None:
    thread_id, run = start_run(client, emulator, LOOKUP)
    run = client.beta.threads.runs.poll(run.id, thread_id=thread_id)
    restarted = start_emulator(db_path=emulator.db_path)
    restarted.control.register_script("test", LOOKUP)  # data scripts live in the process
    again = restarted.client()
    call = again.beta.threads.runs.retrieve(run.id, thread_id=thread_id).required_action
    assert (
        call.submit_tool_outputs.tool_calls[0].id
        == run.required_action.submit_tool_outputs.tool_calls[0].id
    )
