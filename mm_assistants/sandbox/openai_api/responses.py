"""The Responses conversation: input items, the function-call rule, output items.

A conversation is the chain of responses linked by ``previous_response_id``; each stored
response keeps the whole chain's items so far (``_conversation``), so the next request
sees every call and output before it. The rule OpenAI enforces: every function call of the
conversation needs a ``function_call_output`` before the model may go on (``400 No tool
output found for function call call_….``), and every output must answer a known call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mm_assistants.sandbox.openai_api import objects
from mm_assistants.sandbox.openai_api.errors import bad_request, invalid_type, missing
from mm_assistants.sandbox.openai_api.model import Decision
from mm_assistants.sandbox.openai_api.state import ChatMessage, ConversationState, ToolExchange

Item = dict[str, Any]  # {"type": "message"|"function_call"|"function_call_output", ...}


def input_items(value: Any) -> list[Item]:
    """The request's ``input`` as conversation items (other item types are ignored)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "text": value}]
    if not isinstance(value, list):
        raise invalid_type("input", "a string or an array of input items")
    items: list[Item] = []
    for index, raw in enumerate(value):
        where = f"input[{index}]"
        if not isinstance(raw, Mapping):
            raise invalid_type(where, "an object")
        kind = raw.get("type", "message" if "role" in raw else None)
        if kind == "message":
            message = {"type": "message", "role": str(raw.get("role")), "text": _text(raw)}
            if isinstance(raw.get("id"), str):  # the emulator's own message: see `history`
                message["id"] = raw["id"]
            items.append(message)
        elif kind == "function_call":
            items.append(
                {
                    "type": "function_call",
                    "call_id": _field(raw, "call_id", where),
                    "name": _field(raw, "name", where),
                    "arguments": _field(raw, "arguments", where),
                }
            )
        elif kind == "function_call_output":
            call_id = _field(raw, "call_id", where)
            output = raw.get("output")
            if output is None:
                raise missing(f"{where}.output")
            text = output if isinstance(output, str) else objects.content_text(output, where)
            items.append({"type": "function_call_output", "call_id": call_id, "output": text})
        elif kind is None:
            raise missing(f"{where}.type")
    return items


def check_outputs(history: Sequence[Item], new: Sequence[Item]) -> None:
    """Refuse a request that leaves a call unanswered or answers an unknown call."""
    everything = [*history, *new]
    calls = [item["call_id"] for item in everything if item["type"] == "function_call"]
    answered = {item["call_id"] for item in everything if item["type"] == "function_call_output"}
    for item in new:
        if item["type"] == "function_call_output" and item["call_id"] not in calls:
            raise bad_request(
                f"No tool call found for function call output with call_id {item['call_id']}.",
                param="input",
            )
    for call_id in calls:
        if call_id not in answered:
            raise bad_request(f"No tool output found for function call {call_id}.", param="input")


def conversation_state(
    items: Sequence[Item],
    *,
    turn: int,
    instructions: str | None,
    tools: tuple[str, ...],
    metadata: Mapping[str, str],
) -> ConversationState:
    """What the scripted model sees of a Responses conversation."""
    calls = {item["call_id"]: item for item in items if item["type"] == "function_call"}
    exchanges = []
    for item in items:
        if item["type"] == "function_call_output" and item["call_id"] in calls:
            call = calls[item["call_id"]]
            exchanges.append(
                ToolExchange(call["call_id"], call["name"], call["arguments"], item["output"])
            )
    messages = [ChatMessage(i["role"], i["text"]) for i in items if i["type"] == "message"]
    return ConversationState(
        api="responses",
        turn=turn,
        messages=tuple(messages),
        tool_outputs=tuple(exchanges),
        instructions=instructions,
        tools=tools,
        metadata=dict(metadata),
    )


def output_items(decision: Decision) -> tuple[list[Item], list[Item]]:
    """The response's ``output`` for ``decision``, and the same as conversation items."""
    if decision.kind == "calls":
        output = [
            {
                "type": "function_call",
                "id": objects.new_id("fc_"),
                "call_id": objects.new_id("call_"),
                "name": name,
                "arguments": arguments,
                "status": "completed",
            }
            for name, arguments in decision.calls
        ]
        items = [
            {"type": "function_call", **{k: o[k] for k in ("call_id", "name", "arguments")}}
            for o in output
        ]
        return output, items
    if decision.kind == "fail" or not decision.text:
        return [], []
    message = {
        "type": "message",
        "id": objects.new_id("msg_"),
        "role": "assistant",
        "status": "completed" if decision.kind == "say" else "incomplete",
        "content": [
            {"type": "output_text", "text": decision.text, "annotations": [], "logprobs": []}
        ],
    }
    return [message], [{"type": "message", "role": "assistant", "text": decision.text}]


def outcome_fields(decision: Decision) -> dict[str, Any]:
    """``status``, ``error`` and ``incomplete_details`` for ``decision``."""
    if decision.kind == "fail":
        error = {"code": decision.code, "message": decision.text}
        return {"status": "failed", "error": error, "incomplete_details": None}
    if decision.kind == "incomplete":
        details = {"reason": decision.reason or "max_output_tokens"}
        return {"status": "incomplete", "error": None, "incomplete_details": details}
    return {"status": "completed", "error": None, "incomplete_details": None}


def _text(raw: Mapping[str, Any]) -> str:
    content = raw.get("content")
    return "" if content is None else objects.content_text(content, "content")


def _field(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if value is None:
        raise missing(f"{where}.{key}")
    if not isinstance(value, str):
        raise invalid_type(f"{where}.{key}", "a string")
    return value
