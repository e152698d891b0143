"""The demo's live transcript on `rich`: one line per event, and a live status line.

On a terminal the status line (the approval wait's spinner, elapsed time and deadline) is
a `rich.live.Live` display: rich redraws it in place, measures every glyph by the columns
it really takes (the hourglass is two) and erases the whole line before the next one, so
no stray character survives a redraw. Elsewhere (a pipe, a CI log, a test) rich writes
plain text, no colour, no cursor movement, no wrapping, and the status line is not
written at all, so a log never fills with redraws.

Every string reaches rich as a `rich.text.Text` made of `printable` text: untrusted words
(subjects, reasons, the model's text) can neither steer the terminal nor be read as rich
markup (``[bold red]`` or ``[link=...]`` in a subject prints as it is). Writes come from
several threads (the driver's dispatch pool, the reviewer); rich's console holds a lock.
"""

from __future__ import annotations

import json
import threading
from typing import Any, TextIO

from rich.console import Console as RichConsole
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from mm_assistants.approvals import ApprovalOutcome
from mm_assistants.dispatch import ToolCall, ToolResult
from mm_assistants.review.untrusted import printable

ARGUMENT_PREVIEW = 48
#: How often rich redraws the status line (its spinner moves between the reviewer's looks).
REFRESH_PER_SECOND = 8


def rich_console(out: TextIO, *, terminal: bool, width: int | None = None) -> RichConsole:
    """A rich console writing to ``out`` that never reads markup, emoji codes or
    highlights by itself: only `Text` made here is styled.

    ``terminal`` is whether ``out`` is one (cursor control allowed); otherwise rich
    writes plain text, no colour, and never wraps a line (``soft_wrap``) so the text is
    the same whatever width a pipe pretends to have. ``width`` fixes the columns (tests).
    """
    return RichConsole(
        file=out,
        force_terminal=terminal,
        color_system="auto" if terminal else None,
        width=width,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=True,
    )


class Console:
    """Writes the transcript to ``out``; ``live`` enables the live status line.

    ``width`` fixes rich's idea of the terminal's columns (default: asked of ``out``).
    """

    def __init__(self, out: TextIO, *, live: bool, width: int | None = None) -> None:
        self._live = live
        self.rich = rich_console(out, terminal=live, width=width)
        self._lock = threading.Lock()
        self._status: Live | None = None
        self._spinner = Spinner("dots")
        self._muted = False

    def line(self, text: str = "") -> None:
        """Write one line (above the status line, which stays below it).

        The text is shown `printable`: the transcript quotes subjects, reasons and the
        model's words, none of which may steer the terminal (newlines stay)."""
        if self._muted:
            return
        self.rich.print(Text(printable(text, multiline=True)))

    def status(self, text: str) -> None:
        """Show ``text``, `printable` on one line, as the live status line behind a spinner
        (a terminal only; elsewhere nothing)."""
        if not self._live or self._muted:
            return
        shown = Text(printable(text))
        with self._lock:
            self._spinner.update(text=shown)
            if self._status is None:
                self._status = Live(
                    self._spinner,
                    console=self.rich,
                    transient=True,
                    refresh_per_second=REFRESH_PER_SECOND,
                    redirect_stdout=False,
                    redirect_stderr=False,
                )
                self._status.start()

    def clear_status(self) -> None:
        """Remove the status line (before a prompt, and at the end)."""
        with self._lock:
            if self._status is not None:
                self._status.stop()
                self._status = None

    def mute(self) -> None:
        """Stop writing: after an interrupt, threads still running say nothing more."""
        self.clear_status()
        self._muted = True

    # -- what the demo narrates -----------------------------------------------------------

    def call_started(self, call: ToolCall) -> None:
        """``→ reply_email(email_id="em_1", markdown="Hello…")``."""
        self.line(f"  → {call.name}({describe_arguments(call.arguments)})")

    def call_finished(self, result: ToolResult) -> None:
        """``✓ check_inbox: 1 email (12 ms)``; ``✗`` for a failure or a rejected send,
        ``?`` for a send still undecided."""
        mark = result_mark(result)
        self.line(f"  {mark} {result.name}: {describe_result(result)} ({_took(result.duration)})")


def result_mark(result: ToolResult) -> str:
    """``✓`` only when the call did what it was asked: a held send that was rejected is
    ``✗`` (nothing was sent), one not (yet) known decided is ``?``."""
    if not result.ok:
        return "✗"
    approval = result.approval
    if approval is None or approval.decision in ("approved", "scheduled"):
        return "✓"
    return "✗" if approval.decision == "rejected" else "?"


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
        return describe_approval(result.approval)
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


def describe_approval(approval: ApprovalOutcome) -> str:
    """How a held send ended, in words that never suggest a rejected send went out."""
    waited = f"after {_took(approval.waited)} of waiting"
    if approval.decision == "approved":
        return f"approved by {approval.approved_by or 'a human'} and sent, {waited}"
    if approval.decision == "rejected":
        reason = approval.reason or "none given"
        return f"rejected by the reviewer, not sent (reason: {reason}), {waited}"
    if approval.decision == "pending":
        return f"still waiting for a human at the deadline, not sent, {waited}"
    if approval.decision == "scheduled":
        state = "approved" if approval.approved_at else "not approved yet"
        return f"scheduled for {approval.send_at or 'later'} ({state}), {waited}"
    if approval.decision == "unknown":
        return f"status unknown ({approval.status or 'none'}), not known sent, {waited}"
    return f"{approval.decision}, {waited}"


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
