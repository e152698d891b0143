"""The openai SDK's own helpers against the emulator, tool outputs from the library's dispatcher.

Each flow is one `Result` under client ``openai-python``: ``create_and_poll`` then
``submit_tool_outputs_and_poll``; ``runs.stream`` with an ``AssistantEventHandler`` (its
``on_tool_call_created/delta/done`` must fire, then text arrives as deltas); and
``responses.stream`` over both turns of a tool call. The scripted model calls
``check_inbox`` and then names the newest email, so every flow ends by checking that the
assistant's words hold the id of the email the sandbox delivered.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from conformance.mcp_flows import StepFailed, expect
from conformance.report import Result

CHECK_INBOX = {"direction": "inbound", "limit": 5}
#: The emulator's script every flow runs (its data-script format).
SCRIPTS = {
    "inbox": [
        {"call": "check_inbox", "arguments": CHECK_INBOX},
        {"say": "Newest: {{outputs.check_inbox.emails.0.id}}"},
    ]
}
POLL_MS = 20


@dataclass
class Rig:
    """What a flow needs: the OpenAI client on the emulator, a dispatcher, the email to find."""

    openai: Any
    dispatcher: Any
    registry: Any
    mailbox_id: str
    email_id: str
    control: Any
    multimail_url: str
    api_key: str
    openai_url: str

    def assistant(self) -> str:
        """A new assistant with the bundled agent tools that follows the ``inbox`` script."""
        from mm_assistants.openai_setup import create_assistant

        made = create_assistant(self.openai, model="scripted:inbox", mailbox_id=self.mailbox_id)
        return str(made.id)

    def outputs(self, calls: Any) -> list[dict[str, str]]:
        """Dispatch the run's function calls; the ``tool_outputs`` to submit."""
        from mm_assistants.dispatch import ToolCall

        return [
            {
                "tool_call_id": call.id,
                "output": self.dispatcher.dispatch(
                    ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
                ).output,
            }
            for call in calls
        ]


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the SDK's Assistants deprecation warnings (the emulator serves that API on
    purpose) and the library's sunset warning; nothing else."""
    from mm_assistants import _sunset

    with warnings.catch_warnings():
        for text in ("The Assistants API is deprecated", "deprecated$"):
            warnings.filterwarnings("ignore", message=text, category=DeprecationWarning)
        warnings.simplefilter("ignore", _sunset.AssistantsSunsetWarning)
        yield


def create_and_poll(rig: Rig) -> None:
    """``runs.create_and_poll`` to the tool call, then ``submit_tool_outputs_and_poll``."""
    runs = rig.openai.beta.threads.runs
    thread = rig.openai.beta.threads.create(messages=[{"role": "user", "content": "Newest?"}])
    run = runs.create_and_poll(
        thread_id=thread.id, assistant_id=rig.assistant(), poll_interval_ms=POLL_MS
    )
    expect(run.status == "requires_action", f"first poll ended {run.status}")
    calls = run.required_action.submit_tool_outputs.tool_calls
    expect([c.function.name for c in calls] == ["check_inbox"], f"calls: {calls}")
    run = runs.submit_tool_outputs_and_poll(
        thread_id=thread.id, run_id=run.id, tool_outputs=rig.outputs(calls),
        poll_interval_ms=POLL_MS,
    )  # fmt: skip
    expect(run.status == "completed", f"after the outputs: {run.status}")
    _expect_answer(rig, _last_message(rig, thread.id))


def runs_stream(rig: Rig) -> None:
    """``runs.stream`` with an event handler: tool-call events, then streamed text."""
    from openai import AssistantEventHandler

    class Handler(AssistantEventHandler):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []
            self.text = ""

        def on_tool_call_created(self, tool_call: Any) -> None:
            self.seen.append(f"created:{tool_call.type}")

        def on_tool_call_delta(self, delta: Any, snapshot: Any) -> None:
            self.seen.append("delta")

        def on_tool_call_done(self, tool_call: Any) -> None:
            self.seen.append(f"done:{tool_call.function.name}")

        def on_text_delta(self, delta: Any, snapshot: Any) -> None:
            self.text += delta.value or ""

    runs = rig.openai.beta.threads.runs
    thread = rig.openai.beta.threads.create(messages=[{"role": "user", "content": "Newest?"}])
    first = Handler()
    with runs.stream(thread_id=thread.id, assistant_id=rig.assistant(), event_handler=first) as s:
        s.until_done()
    run: Any = first.current_run
    expect(run is not None and run.status == "requires_action", f"stream ended at {run}")
    expect("created:function" in first.seen, f"on_tool_call_created never fired: {first.seen}")
    expect("delta" in first.seen, f"on_tool_call_delta never fired: {first.seen}")
    expect("done:check_inbox" in first.seen, f"on_tool_call_done never fired: {first.seen}")
    calls = run.required_action.submit_tool_outputs.tool_calls
    second = Handler()
    with runs.submit_tool_outputs_stream(
        thread_id=thread.id, run_id=run.id, tool_outputs=rig.outputs(calls), event_handler=second
    ) as s:
        s.until_done()
    _expect_answer(rig, second.text)


def responses_stream(rig: Rig) -> None:
    """``responses.stream`` for the call, then for the answer after its output."""
    tools = rig.registry.tools(format="responses", mailbox_id=rig.mailbox_id)
    with rig.openai.responses.stream(
        model="scripted:inbox", input="Newest?", tools=tools
    ) as stream:
        kinds = [event.type for event in stream]
        first = stream.get_final_response()
    expect("response.function_call_arguments.delta" in kinds, f"no argument deltas: {kinds}")
    calls = [item for item in first.output if item.type == "function_call"]
    expect([c.name for c in calls] == ["check_inbox"], f"calls: {first.output}")
    from mm_assistants.dispatch import ToolCall

    outputs = [
        {
            "type": "function_call_output",
            "call_id": c.call_id,
            "output": rig.dispatcher.dispatch(ToolCall(c.call_id, c.name, c.arguments)).output,
        }
        for c in calls
    ]
    text = ""
    with rig.openai.responses.stream(
        model="scripted:inbox", input=outputs, tools=tools, previous_response_id=first.id
    ) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                text += event.delta
    _expect_answer(rig, text)


def _last_message(rig: Rig, thread_id: str) -> str:
    messages = rig.openai.beta.threads.messages.list(thread_id=thread_id, order="desc", limit=1)
    return "".join(part.text.value for part in messages.data[0].content if part.type == "text")


def _expect_answer(rig: Rig, text: str) -> None:
    expect(rig.email_id in text, f"the answer does not name {rig.email_id}: {text[:200]!r}")


FLOWS: dict[str, Callable[[Rig], None]] = {
    "runs.create_and_poll + submit_tool_outputs_and_poll": create_and_poll,
    "runs.stream + AssistantEventHandler": runs_stream,
    "responses.stream (call, then answer)": responses_stream,
}


def run_flows(client: str, package: str, flows: dict[str, Callable[[Rig], None]], rig: Rig
              ) -> list[Result]:  # fmt: skip
    """Each flow once, judged; a crash is that flow's failure."""
    results = []
    for name, flow in flows.items():
        started = time.monotonic()
        try:
            with quiet():
                flow(rig)
        except StepFailed as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 -- a flow's crash is its verdict, not the run's
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = ""
        seconds = round(time.monotonic() - started, 2)
        results.append(Result(client, version(package), name, not reason, reason, seconds=seconds))
    return results


def dumps(value: Any) -> str:
    """Compact JSON (for reasons that quote a payload)."""
    return json.dumps(value, separators=(",", ":"))[:200]
