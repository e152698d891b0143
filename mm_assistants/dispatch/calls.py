"""`ToolCall` and `ToolResult`, and their shapes in the three OpenAI APIs.

One model tool call becomes a `ToolCall` whatever API produced it, and one `ToolResult`
goes back in that API's shape:

==============  =========================================  =====================================
API             call read from                             result written as
==============  =========================================  =====================================
Assistants      ``run.required_action...tool_calls[]``     ``{"tool_call_id", "output"}``
Responses       ``response.output[]`` of type function_call ``{"type": "function_call_output",
                                                            "call_id", "output"}``
Chat            ``message.tool_calls[]``                   ``{"role": "tool", "tool_call_id",
                                                            "content"}``
==============  =========================================  =====================================

The builders accept the SDK's objects or plain dicts alike.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mm_assistants.approvals import ApprovalOutcome


@dataclass(frozen=True)
class CallContext:
    """What is known about where a call came from, for idempotency keys, audit and deadlines.

    ``deadline`` is a unix time (seconds) by which the call's output must be ready, e.g.
    a run's ``expires_at`` minus a safety margin; client-side waits stop before it.
    ``cancel``, once set (from any thread), ends an approval wait at once: the run it
    belongs to is being cancelled, so nobody is waiting for the decision any more.
    """

    assistant_id: str | None = None
    thread_id: str | None = None
    run_id: str | None = None
    response_id: str | None = None
    deadline: float | None = None
    cancel: threading.Event | None = field(default=None, compare=False, repr=False)
    #: Told ``(call id, pending approval)`` as a held send's approval wait begins, so a
    #: driver can show it while the wait lasts; it must not raise (it runs mid-dispatch).
    on_held: Callable[[str, PendingApproval], None] | None = field(
        default=None, compare=False, repr=False
    )

    def ids(self) -> dict[str, str]:
        """The known ids, for audit records."""
        pairs = (
            ("assistant_id", self.assistant_id),
            ("thread_id", self.thread_id),
            ("run_id", self.run_id),
            ("response_id", self.response_id),
        )
        return {key: value for key, value in pairs if value is not None}


@dataclass(frozen=True)
class ToolCall:
    """One function call from a model: its id, tool name and raw JSON argument string."""

    id: str
    name: str
    arguments: str
    context: CallContext = field(default_factory=CallContext)

    def __repr__(self) -> str:
        # Arguments can hold whole emails: show their size, not their text.
        return (
            f"ToolCall(id={self.id!r}, name={self.name!r}, "
            f"arguments=<{len(self.arguments)} chars>, context={self.context!r})"
        )


@dataclass(frozen=True)
class PendingApproval:
    """A message the call put on hold for a human (status ``pending_scan`` or
    ``pending_send_approval``): what the approval wait needs to follow it."""

    email_id: str
    mailbox_id: str
    status: str
    thread_id: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """The model-ready outcome of one `ToolCall`.

    ``output`` is the JSON text the model reads. ``ok`` is false for every refusal and
    error; ``error_type`` then names it (``invalid_arguments``, ``unknown_tool``,
    ``tool_not_allowed``, ``mailbox_not_allowed``, ``api_error``, ``network_error``,
    ``cancelled``, ``outcome_unknown``). ``pending`` is set when a send is held for approval, and
    ``approval`` tells how the wait for that approval ended (when there was one).
    """

    call_id: str
    name: str
    output: str
    ok: bool
    error_type: str | None = None
    http_status: int | None = None
    duration: float = 0.0
    idempotency_key: str | None = None
    mailbox_id: str | None = None
    pending: PendingApproval | None = None
    truncated: bool = False
    approval: ApprovalOutcome | None = None

    def __repr__(self) -> str:
        return (
            f"ToolResult(call_id={self.call_id!r}, name={self.name!r}, ok={self.ok!r}, "
            f"error_type={self.error_type!r}, http_status={self.http_status!r}, "
            f"output=<{len(self.output)} chars>)"
        )

    def to_assistants(self) -> dict[str, str]:
        """The entry for ``runs.submit_tool_outputs(tool_outputs=[...])``."""
        return {"tool_call_id": self.call_id, "output": self.output}

    def to_responses(self) -> dict[str, str]:
        """The ``function_call_output`` input item for the next Responses request."""
        return {"type": "function_call_output", "call_id": self.call_id, "output": self.output}

    def to_chat(self) -> dict[str, str]:
        """The ``role: tool`` message that follows the assistant message."""
        return {"role": "tool", "tool_call_id": self.call_id, "content": self.output}


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _function_call(item: Any, call_id: str, context: CallContext) -> ToolCall:
    function = _get(item, "function")
    return ToolCall(
        id=call_id,
        name=str(_get(function, "name", "")),
        arguments=_arguments(_get(function, "arguments")),
        context=context,
    )


def _arguments(value: Any) -> str:
    # Models send a JSON string; a dict (from a hand-built call) is accepted as is.
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def calls_from_run(
    run: Any, *, deadline: float | None = None, cancel: threading.Event | None = None
) -> list[ToolCall]:
    """The function calls an Assistants run in ``requires_action`` asks for, in order.

    Returns ``[]`` when the run does not wait for tool outputs. ``deadline`` defaults to
    the run's ``expires_at``; ``cancel`` goes into each call's `CallContext`.
    """
    action = _get(run, "required_action")
    if action is None or _get(action, "type") != "submit_tool_outputs":
        return []
    context = CallContext(
        assistant_id=_get(run, "assistant_id"),
        thread_id=_get(run, "thread_id"),
        run_id=_get(run, "id"),
        deadline=deadline if deadline is not None else _get(run, "expires_at"),
        cancel=cancel,
    )
    tool_calls = _get(_get(action, "submit_tool_outputs"), "tool_calls") or []
    return [
        _function_call(item, str(_get(item, "id")), context)
        for item in tool_calls
        if _get(item, "type", "function") == "function"
    ]


def calls_from_response(response: Any, *, deadline: float | None = None) -> list[ToolCall]:
    """The ``function_call`` items of a Responses ``response.output``, in order."""
    context = CallContext(response_id=_get(response, "id"), deadline=deadline)
    calls = []
    for item in _get(response, "output") or []:
        if _get(item, "type") != "function_call":
            continue
        calls.append(
            ToolCall(
                id=str(_get(item, "call_id")),
                name=str(_get(item, "name", "")),
                arguments=_arguments(_get(item, "arguments")),
                context=context,
            )
        )
    return calls


def calls_from_chat_message(message: Any, *, deadline: float | None = None) -> list[ToolCall]:
    """The function ``tool_calls`` of a Chat Completions assistant message, in order."""
    context = CallContext(deadline=deadline)
    return [
        _function_call(item, str(_get(item, "id")), context)
        for item in _get(message, "tool_calls") or []
        if _get(item, "type", "function") == "function"
    ]
