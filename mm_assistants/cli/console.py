"""The demo's live transcript: one line per event, and a status line that redraws in place.

On a terminal the status line (the approval wait's elapsed time and deadline) is redrawn
with a carriage return; elsewhere (a pipe, a CI log) only whole lines are written, so a
log never fills with redraws. Writes come from several threads (the driver's dispatch
pool, the reviewer), hence the lock.
"""

from __future__ import annotations

import json
import threading
from typing import Any, TextIO

from mm_assistants.dispatch import ToolCall, ToolResult
from mm_assistants.review.untrusted import printable

ARGUMENT_PREVIEW = 48


class Console:
    """Writes the transcript to ``out``; ``live`` enables the redrawn status line."""

    def __init__(self, out: TextIO, *, live: bool) -> None:
        self._out = out
        self._live = live
        self._lock = threading.Lock()
        self._status_width = 0

    def line(self, text: str = "") -> None:
        """Write one line (above the status line, which is redrawn by its next update).

        The text is shown `printable`: the transcript quotes subjects, reasons and the
        model's words, none of which may steer the terminal (newlines stay)."""
        text = printable(text, multiline=True)
        with self._lock:
            self._clear_status()
            self._out.write(text + "\n")
            self._out.flush()

    def status(self, text: str) -> None:
        """Show ``text``, `printable` on one line, as the status line (a terminal only;
        elsewhere nothing)."""
        if not self._live:
            return
        text = printable(text)
        with self._lock:
            padding = " " * max(0, self._status_width - len(text))
            self._out.write("\r" + text + padding)
            self._out.flush()
            self._status_width = len(text)

    def clear_status(self) -> None:
        """Remove the status line."""
        with self._lock:
            self._clear_status()

    def _clear_status(self) -> None:
        if self._status_width:
            self._out.write("\r" + " " * self._status_width + "\r")
            self._status_width = 0

    # -- what the demo narrates -----------------------------------------------------------

    def call_started(self, call: ToolCall) -> None:
        """``→ reply_email(email_id="em_1", markdown="Hello…")``."""
        self.line(f"  → {call.name}({describe_arguments(call.arguments)})")

    def call_finished(self, result: ToolResult) -> None:
        """``✓ check_inbox: 1 email (12 ms)`` or ``✗ … invalid_arguments``."""
        mark = "✓" if result.ok else "✗"
        self.line(f"  {mark} {result.name}: {describe_result(result)} ({_took(result.duration)})")


def describe_arguments(arguments: str) -> str:
    """The arguments a reader cares about: set values, long strings shortened."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return _shorten(arguments)
    if not isinstance(parsed, dict):
        return _shorten(arguments)
    parts = [f"{key}={_shorten(json.dumps(value))}" for key, value in parsed.items() if value]
    return ", ".join(parts)


def describe_result(result: ToolResult) -> str:
    """One phrase for what a tool call came to."""
    if not result.ok:
        message = _field(result.output, "error", "message")
        return f"{result.error_type}: {message}" if message else str(result.error_type)
    if result.approval is not None:
        approval = result.approval
        waited = f"after {_took(approval.waited)} of waiting"
        if approval.decision == "approved":
            return f"approved by {approval.approved_by or 'a human'} and sent, {waited}"
        if approval.decision == "rejected":
            return f"rejected (reason: {approval.reason or 'none given'}), {waited}"
        if approval.decision == "pending":
            return f"still waiting for a human at the deadline, {waited}"
        if approval.decision == "scheduled":
            state = "approved" if approval.approved_at else "not approved yet"
            return f"scheduled for {approval.send_at or 'later'} ({state}), {waited}"
        if approval.decision == "unknown":
            return f"status unknown ({approval.status or 'none'}), not known sent, {waited}"
        return f"{approval.decision}, {waited}"
    data = _parse(result.output)
    if isinstance(data, dict):
        emails = data.get("emails")
        if isinstance(emails, list):
            return f"{len(emails)} email{'s' if len(emails) != 1 else ''}"
        if isinstance(data.get("subject"), str):
            return f"subject {_shorten(json.dumps(data['subject']))}"
        if isinstance(data.get("status"), str):
            return f"status {data['status']}"
    return "ok"


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _field(text: str, *path: str) -> Any:
    value = _parse(text)
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ARGUMENT_PREVIEW else text[: ARGUMENT_PREVIEW - 1] + "…"


def _took(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
