"""`RunOutcome`: how one driven run ended, and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mm_assistants.approvals import ApprovalOutcome
from mm_assistants.dispatch import ToolResult


@dataclass
class RunOutcome:
    """The end of one run (Assistants) or tool loop (Responses, Chat).

    ``status`` is the final status: ``completed``, ``failed`` (see ``last_error``),
    ``incomplete`` (see ``incomplete_reason``), ``cancelled``, ``expired``, or
    ``requires_action`` when the driver was told not to answer tool calls.
    ``openai_requests`` counts every request the driver made to the OpenAI-side API.

    Parked Responses runs (``ApprovalPolicy(park_after=...)``) add: ``parked`` (a held
    send is not decided yet; ``checkpoint_id`` names the checkpoint to
    ``driver.resume``), and from ``resume``: ``busy`` (another resumer's live claim
    holds the checkpoint; nothing was done), ``gone`` (no such checkpoint: the run
    finished already) and ``expired`` with ``incomplete_reason`` ``park_expired`` or
    ``response_gone`` (the run cannot go on; its decisions take the late-decision path).

    A streamed Responses run whose ``on_event`` callback raised ends ``aborted``
    (``incomplete_reason`` ``on_event_raised``, the exception in ``last_error``; see
    `drivers.responses_stream`), with ``checkpoint_id`` set when it can be resumed.
    """

    status: str
    run: Any = None
    thread_id: str | None = None
    run_id: str | None = None
    messages: list[Any] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)
    openai_requests: int = 0
    duration: float = 0.0
    last_error: Any = None
    incomplete_reason: str | None = None
    steps: int = 0
    checkpoint_id: str | None = None

    @property
    def approvals(self) -> list[ApprovalOutcome]:
        """Every approval wait of the run and how it ended."""
        return [result.approval for result in self.tool_results if result.approval is not None]

    @property
    def text(self) -> str:
        """The assistant's final words: the text of the new assistant messages."""
        return "\n\n".join(filter(None, (_message_text(m) for m in self.messages)))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (tool outputs included, run object left out)."""
        return {
            "status": self.status,
            "thread_id": self.thread_id,
            "run_id": self.run_id,
            "text": self.text,
            "openai_requests": self.openai_requests,
            "duration_seconds": round(self.duration, 3),
            "steps": self.steps,
            "checkpoint_id": self.checkpoint_id,
            "last_error": _plain(self.last_error),
            "incomplete_reason": self.incomplete_reason,
            "tool_results": [
                {
                    "call_id": r.call_id,
                    "name": r.name,
                    "ok": r.ok,
                    "error_type": r.error_type,
                    "http_status": r.http_status,
                    "duration_seconds": round(r.duration, 3),
                    "output": r.output,
                }
                for r in self.tool_results
            ],
            "approvals": [
                {
                    "email_id": a.email_id,
                    "decision": a.decision,
                    "reason": a.reason,
                    "waited_seconds": round(a.waited, 3),
                    "status_checks": a.status_checks,
                    "woken_by": a.woken_by,
                }
                for a in self.approvals
            ],
        }


def _message_text(message: Any) -> str:
    if isinstance(message, str):
        return message
    content = _get(message, "content")
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        text = _get(part, "text")
        value = _get(text, "value") if text is not None and not isinstance(text, str) else text
        if isinstance(value, str):
            parts.append(value)
    return "".join(parts)


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool, dict, list)):
        return value
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else str(value)
