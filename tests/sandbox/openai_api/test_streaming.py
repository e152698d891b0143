"""Streamed runs through the SDK's helpers: create, then submit, until completed."""

from __future__ import annotations

import json
from typing import Any

import openai
from openai import AssistantEventHandler
from openai.types.beta import AssistantStreamEvent
from openai.types.beta.threads import Message, Run, Text, TextDelta
from openai.types.beta.threads.runs import ToolCall, ToolCallDelta

from tests.sandbox.openai_api.support import Emulator, function_tools

SCRIPT = [
    {
        "calls": [
            {"name": "lookup", "arguments": {"q": "a"}},
            {"name": "lookup", "arguments": {"q": "b"}},
        ]
    },
    {"say": "Answers: {{outputs.lookup.n}} and a rather long tail to split into several deltas."},
]


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.deltas: list[str] = []
        self.done: list[str] = []

    def on_event(self, event: AssistantStreamEvent) -> None:
        self.events.append(event.event)

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.deltas.append(delta.value or "")

    def on_message_done(self, message: Message) -> None:
        self.done.append(message.content[0].text.value)  # type: ignore[union-attr]


def setup(client: openai.OpenAI, emulator: Emulator) -> tuple[str, str]:
    emulator.control.register_script("streamed", SCRIPT)
    emulator.control.update(text_chunk_chars=16)
    assistant = client.beta.assistants.create(
        model="m", tools=function_tools("lookup"), metadata={"script": "streamed"}
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "go"}])
    return assistant.id, thread.id


def start_streamed(
    client: openai.OpenAI, assistant_id: str, thread_id: str, handler: Recorder
) -> Run:
    """A streamed run on the thread, followed to its end with ``handler``."""
    with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=handler
    ) as stream:
        stream.until_done()
        return stream.get_final_run()


def submit_streamed(client: openai.OpenAI, run: Run, output: str, handler: Recorder) -> Run:
    """Answer every pending call of ``run`` with ``output``, streamed to ``handler``."""
    calls = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": c.id, "output": output} for c in calls],
        event_handler=handler,
    ) as stream:
        stream.until_done()
        return stream.get_final_run()


def test_stream_create_then_submit_until_completed(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    assistant_id, thread_id = setup(client, emulator)
    first = Recorder()
    run = start_streamed(client, assistant_id, thread_id, first)
    assert run.status == "requires_action"
    assert first.events == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        *["thread.run.step.delta"] * 4,  # per call: its id and name, then one argument piece
        "thread.run.requires_action",
    ]
    second = Recorder()
    final = submit_streamed(client, run, '{"n": 7}', second)
    assert final.status == "completed"
    text = "Answers: 7 and a rather long tail to split into several deltas."
    assert second.done == [text]
    assert "".join(second.deltas) == text
    assert len(second.deltas) > 1
    assert second.events[:3] == [
        "thread.run.step.completed",
        "thread.run.queued",
        "thread.run.in_progress",
    ]
    assert second.events[-2:] == ["thread.run.step.completed", "thread.run.completed"]
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread_id).status == "completed"


def test_raw_stream_ends_with_done(client: openai.OpenAI, emulator: Emulator) -> None:
    assistant_id, thread_id = setup(client, emulator)
    events = list(
        client.beta.threads.runs.create(thread_id, assistant_id=assistant_id, stream=True)
    )
    assert events[-1].event == "thread.run.requires_action"


def test_create_and_run_stream(client: openai.OpenAI, emulator: Emulator) -> None:
    emulator.control.register_script("hi", [{"fail": "the model broke"}])
    assistant = client.beta.assistants.create(model="m", metadata={"script": "hi"})
    recorder = Recorder()
    with client.beta.threads.create_and_run_stream(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "hi"}]},
        event_handler=recorder,
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert recorder.events[0] == "thread.created"
    assert recorder.events[-1] == "thread.run.failed"
    assert run.last_error is not None
    assert run.last_error.message == "the model broke"


def test_stream_waits_the_model_latency(client: openai.OpenAI, emulator: Emulator) -> None:
    assistant_id, thread_id = setup(client, emulator)
    emulator.control.update(model_latency=0.05)
    events: list[Any] = list(
        client.beta.threads.runs.create(thread_id, assistant_id=assistant_id, stream=True)
    )
    assert events[-1].event == "thread.run.requires_action"


def test_cancel_while_streaming(client: openai.OpenAI, emulator: Emulator) -> None:
    assistant_id, thread_id = setup(client, emulator)
    emulator.control.update(model_latency=0.2)  # the stream waits this long for the model

    class Canceller(Recorder):
        def on_event(self, event: AssistantStreamEvent) -> None:
            super().on_event(event)
            if event.event == "thread.run.in_progress":
                client.beta.threads.runs.cancel(event.data.id, thread_id=thread_id)

    handler = Canceller()
    with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, event_handler=handler
    ) as stream:
        stream.until_done()
    assert handler.events[-1] == "thread.run.cancelled"
    assert stream.get_final_run().cancelled_at is not None


class ToolRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.created: list[tuple[str, str]] = []
        self.argument_deltas: dict[int, list[str]] = {}
        self.finished: list[tuple[str, str, str]] = []

    def on_tool_call_created(self, tool_call: ToolCall) -> None:
        assert tool_call.type == "function"
        self.created.append((tool_call.id, tool_call.function.name))

    def on_tool_call_delta(self, delta: ToolCallDelta, snapshot: ToolCall) -> None:
        assert delta.type == "function"
        if delta.function is not None and delta.function.arguments:
            self.argument_deltas.setdefault(delta.index, []).append(delta.function.arguments)

    def on_tool_call_done(self, tool_call: ToolCall) -> None:
        assert tool_call.type == "function"
        function = tool_call.function
        self.finished.append((tool_call.id, function.name, function.arguments))


def test_tool_call_handlers_fire(client: openai.OpenAI, emulator: Emulator) -> None:
    assistant_id, thread_id = setup(client, emulator)
    emulator.control.update(text_chunk_chars=4)  # several argument pieces per call
    handler = ToolRecorder()
    run = start_streamed(client, assistant_id, thread_id, handler)
    calls = run.required_action.submit_tool_outputs.tool_calls  # type: ignore[union-attr]
    assert handler.created == [(c.id, "lookup") for c in calls]
    assert handler.finished == [(c.id, "lookup", c.function.arguments) for c in calls]
    assert [json.loads("".join(handler.argument_deltas[i])) for i in (0, 1)] == [
        {"q": "a"},
        {"q": "b"},
    ]
    assert all(len(pieces) > 1 for pieces in handler.argument_deltas.values())

    after = ToolRecorder()
    submit_streamed(client, run, '{"n": 3}', after)
    assert after.events[0] == "thread.run.step.completed"
    assert "".join(after.deltas) == (
        "Answers: 3 and a rather long tail to split into several deltas."
    )
    assert after.created == []  # the text turn makes no tool calls
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc")
    tool_step = steps.data[0]
    assert tool_step.status == "completed"
    assert tool_step.step_details.type == "tool_calls"
    assert [c.function.output for c in tool_step.step_details.tool_calls] == [  # type: ignore[union-attr]
        '{"n": 3}',
        '{"n": 3}',
    ]
