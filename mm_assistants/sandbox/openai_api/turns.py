"""One model turn of an Assistants run: ask the script, then write what it decided.

`take_turn` changes the run document in place, stores the steps and messages it makes, and
returns the stream events a real server would have sent on the way, in order (the caller
sends them when streaming and drops them otherwise).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from mm_assistants.sandbox.openai_api import objects
from mm_assistants.sandbox.openai_api.model import Decision, Progress, decide
from mm_assistants.sandbox.openai_api.script import Script
from mm_assistants.sandbox.openai_api.settings import OpenAIEmulatorSettings
from mm_assistants.sandbox.openai_api.state import ChatMessage, ConversationState, ToolExchange
from mm_assistants.sandbox.openai_api.store import Doc, Store, public
from mm_assistants.sandbox.openai_api.validation import function_names

Event = tuple[str, Doc]
ZERO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def conversation(store: Store, run: Mapping[str, Any]) -> ConversationState:
    """The run's conversation: its thread's messages and its own answered tool calls."""
    messages = tuple(
        ChatMessage(doc["role"], objects.message_text(doc))
        for doc in store.children("messages", run["thread_id"])
    )
    exchanges = []
    for step in store.children("steps", run["id"]):
        if step["type"] != "tool_calls":
            continue
        for call in step["step_details"]["tool_calls"]:
            function = call["function"]
            if function.get("output") is not None:
                exchanges.append(
                    ToolExchange(
                        call["id"], function["name"], function["arguments"], function["output"]
                    )
                )
    return ConversationState(
        api="assistants",
        turn=int(run.get("_turns", 0)),
        messages=messages,
        tool_outputs=tuple(exchanges),
        instructions=run.get("instructions"),
        tools=function_names(run.get("tools") or []),
        metadata=dict(run.get("metadata") or {}),
    )


def take_turn(
    store: Store, run: Doc, script: Script | None, settings: OpenAIEmulatorSettings, now: int
) -> list[Event]:
    """Let the model take its turn on ``run`` (status ``queued``/``in_progress``)."""
    events: list[Event] = []
    if run["status"] == "queued":
        run["status"] = "in_progress"
        run["started_at"] = run["started_at"] or now
        events.append(("thread.run.in_progress", public(run)))
    state = conversation(store, run)
    progress = Progress.load(run.get("_progress"))
    if script is None:
        decision = Decision("fail", text=f"The script '{run.get('_script')}' does not exist.")
    else:
        declared = state.tools if settings.require_declared_tools else None
        parallel = bool(run.get("parallel_tool_calls", True))
        decision = decide(script, state, progress, parallel=parallel, declared=declared)
    run["_progress"] = progress.dump()
    run["_turns"] = state.turn + 1
    if decision.kind == "calls":
        events += _ask_for_outputs(store, run, decision, settings.text_chunk_chars, now)
    elif decision.kind == "fail":
        run.update(status="failed", failed_at=now, usage=dict(ZERO_USAGE))
        run["last_error"] = {"code": decision.code, "message": decision.text}
        events.append(("thread.run.failed", public(run)))
    else:
        events += _write_message(store, run, decision, settings.text_chunk_chars, now)
    return events


def _ask_for_outputs(
    store: Store, run: Doc, decision: Decision, chunk: int, now: int
) -> list[Event]:
    calls = [(objects.new_id("call_"), name, arguments) for name, arguments in decision.calls]

    def call(call_id: str, name: str, arguments: str, **extra: Any) -> dict[str, Any]:
        function = {"name": name, "arguments": arguments, **extra}
        return {"id": call_id, "type": "function", "function": function}

    details = {"type": "tool_calls", "tool_calls": [call(*c, output=None) for c in calls]}
    step = store.put("steps", objects.step(run, "tool_calls", details, now), parent=run["id"])
    run["_step"] = step["id"]
    run["status"] = "requires_action"
    run["required_action"] = {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {"tool_calls": [call(*c) for c in calls]},
    }
    # the step opens empty and its calls arrive as deltas, as at OpenAI: the SDK's
    # on_tool_call_created/delta/done fire only from thread.run.step.delta events
    opened = copy.deepcopy(public(step))
    opened["step_details"]["tool_calls"] = []
    return [
        ("thread.run.step.created", opened),
        ("thread.run.step.in_progress", copy.deepcopy(opened)),
        *_call_deltas(step["id"], calls, chunk),
        ("thread.run.requires_action", public(run)),
    ]


def _call_deltas(step_id: str, calls: list[tuple[str, str, str]], chunk: int) -> list[Event]:
    """``thread.run.step.delta`` events: per call, its id and name, then argument pieces."""

    def delta(index: int, function: dict[str, Any], **head: Any) -> Event:
        call = {"index": index, **head, "type": "function", "function": function}
        details = {"type": "tool_calls", "tool_calls": [call]}
        body = {
            "id": step_id,
            "object": "thread.run.step.delta",
            "delta": {"step_details": details},
        }
        return ("thread.run.step.delta", body)

    events: list[Event] = []
    for index, (call_id, name, arguments) in enumerate(calls):
        opening = {"name": name, "arguments": "", "output": None}
        events.append(delta(index, opening, id=call_id))
        for start in range(0, len(arguments), chunk):
            events.append(delta(index, {"arguments": arguments[start : start + chunk]}))
    return events


def _write_message(store: Store, run: Doc, decision: Decision, chunk: int, now: int) -> list[Event]:
    finished = "completed" if decision.kind == "say" else "incomplete"
    message = objects.message(
        run["thread_id"], "assistant", "", now, run_id=run["id"],
        assistant_id=run["assistant_id"], status="in_progress",
    )  # fmt: skip
    details = {"type": "message_creation", "message_creation": {"message_id": message["id"]}}
    step = objects.step(run, "message_creation", details, now)
    events: list[Event] = [
        ("thread.run.step.created", public(step)),
        ("thread.run.step.in_progress", public(step)),
        ("thread.message.created", copy.deepcopy(public(message))),
        ("thread.message.in_progress", copy.deepcopy(public(message))),
    ]
    text = decision.text
    events += _deltas(message["id"], text, chunk)
    message["content"] = [objects.text_block(text)] if text else []
    message["status"] = finished
    message["completed_at" if finished == "completed" else "incomplete_at"] = now
    if finished == "incomplete":
        message["incomplete_details"] = {"reason": "max_tokens"}
    store.put("messages", message, parent=run["thread_id"])
    step.update(status="completed", completed_at=now)
    store.put("steps", step, parent=run["id"])
    events.append((f"thread.message.{finished}", public(message)))
    events.append(("thread.run.step.completed", public(step)))
    run.update(status=finished, usage=dict(ZERO_USAGE))
    if finished == "completed":
        run["completed_at"] = now
    else:
        run["incomplete_details"] = {"reason": decision.reason or "max_completion_tokens"}
    events.append((f"thread.run.{finished}", public(run)))
    return events


def _deltas(message_id: str, text: str, chunk: int) -> list[Event]:
    events: list[Event] = []
    for start in range(0, len(text), chunk):
        piece = {"index": 0, "type": "text", "text": {"value": text[start : start + chunk]}}
        delta: dict[str, Any] = {"content": [piece]}
        if start == 0:
            delta["role"] = "assistant"
        body = {"id": message_id, "object": "thread.message.delta", "delta": delta}
        events.append(("thread.message.delta", body))
    return events
