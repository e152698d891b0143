"""The Assistants objects as the API shows them, and the list page around them.

Field names and shapes follow the SDK's models (``openai.types.beta``): `assistant`,
`thread`, `message`, `run_step`; the run itself is built in `runs`.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

from mm_assistants.sandbox.openai_api.errors import ApiError, bad_request, invalid_type
from mm_assistants.sandbox.openai_api.store import Doc, public

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """A fresh id in OpenAI's style, e.g. ``run_`` and 24 letters and digits."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def assistant(body: Mapping[str, Any], now: int) -> Doc:
    """A new assistant from a create request (already validated)."""
    return {
        "id": new_id("asst_"),
        "object": "assistant",
        "created_at": now,
        "name": body.get("name"),
        "description": body.get("description"),
        "model": body["model"],
        "instructions": body.get("instructions"),
        "tools": list(body.get("tools") or []),
        "tool_resources": body.get("tool_resources") or {},
        "metadata": dict(body.get("metadata") or {}),
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "response_format": body.get("response_format", "auto"),
    }


def thread(body: Mapping[str, Any], now: int) -> Doc:
    """A new thread (its messages are stored separately)."""
    return {
        "id": new_id("thread_"),
        "object": "thread",
        "created_at": now,
        "metadata": dict(body.get("metadata") or {}),
        "tool_resources": body.get("tool_resources") or {},
    }


def message(
    thread_id: str,
    role: str,
    text: str,
    now: int,
    *,
    run_id: str | None = None,
    assistant_id: str | None = None,
    status: str = "completed",
    metadata: Mapping[str, Any] | None = None,
) -> Doc:
    """A thread message holding one text block."""
    return {
        "id": new_id("msg_"),
        "object": "thread.message",
        "created_at": now,
        "thread_id": thread_id,
        "role": role,
        "content": [text_block(text)] if text else [],
        "assistant_id": assistant_id,
        "run_id": run_id,
        "attachments": [],
        "metadata": dict(metadata or {}),
        "status": status,
        "completed_at": now if status == "completed" else None,
        "incomplete_at": now if status == "incomplete" else None,
        "incomplete_details": None,
    }


def text_block(text: str) -> dict[str, Any]:
    """A ``text`` content block."""
    return {"type": "text", "text": {"value": text, "annotations": []}}


def message_text(doc: Mapping[str, Any]) -> str:
    """The text of a stored message (its text blocks joined)."""
    parts = [
        block["text"]["value"]
        for block in doc.get("content", [])
        if isinstance(block, dict) and block.get("type") == "text"
    ]
    return "\n".join(parts)


def user_message(thread_id: str, spec: Any, now: int, param: str, **extra: Any) -> Doc:
    """A message from a request's ``{role, content, metadata}`` (content: text or parts)."""
    if not isinstance(spec, Mapping):
        raise invalid_type(param, "an object")
    role = spec.get("role")
    if role not in ("user", "assistant"):
        raise bad_request(
            f"Invalid value for '{param}.role': expected 'user' or 'assistant'.",
            param=f"{param}.role",
            code="invalid_value",
        )
    text = content_text(spec.get("content"), f"{param}.content")
    return message(thread_id, role, text, now, metadata=spec.get("metadata"), **extra)


def content_text(content: Any, param: str) -> str:
    """The text of message content given as a string or a list of ``text`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part.get("text") for part in content if isinstance(part, Mapping) and "text" in part
        ]
        return "\n".join(text for text in texts if isinstance(text, str))
    if content is None:
        raise ApiError(400, f"Missing required parameter: '{param}'.", param=param)
    raise invalid_type(param, "a string or an array of content parts")


def step(run: Mapping[str, Any], kind: str, details: dict[str, Any], now: int) -> Doc:
    """A new run step (``message_creation`` or ``tool_calls``), in progress."""
    return {
        "id": new_id("step_"),
        "object": "thread.run.step",
        "created_at": now,
        "run_id": run["id"],
        "assistant_id": run["assistant_id"],
        "thread_id": run["thread_id"],
        "type": kind,
        "status": "in_progress",
        "step_details": details,
        "cancelled_at": None,
        "completed_at": None,
        "expired_at": None,
        "failed_at": None,
        "last_error": None,
        "metadata": {},
        "usage": None,
    }


def page(docs: list[Doc], query: Mapping[str, str], *, default_order: str = "desc") -> Doc:
    """One page of a list answer, with OpenAI's ``limit``/``order``/``after``/``before``."""
    order = query.get("order", default_order)
    if order not in ("asc", "desc"):
        raise bad_request(
            "Invalid value for 'order': expected 'asc' or 'desc'.", param="order", code=None
        )
    try:
        limit = int(query.get("limit", "20"))
    except ValueError as exc:
        raise invalid_type("limit", "an integer") from exc
    if not 1 <= limit <= 100:
        raise bad_request(
            f"Invalid 'limit': integer {limit} is out of range; expected 1 to 100.",
            param="limit",
            code="integer_out_of_range",
        )
    items = docs if order == "asc" else list(reversed(docs))
    ids = [doc["id"] for doc in items]
    if "after" in query and query["after"] in ids:
        items = items[ids.index(query["after"]) + 1 :]
    ids = [doc["id"] for doc in items]
    has_more = len(items) > limit
    chosen = items[:limit]
    if "before" in query and query["before"] in ids:
        earlier = items[: ids.index(query["before"])]
        has_more, chosen = len(earlier) > limit, earlier[-limit:]  # the page before the cursor
    data = [public(doc) for doc in chosen]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
