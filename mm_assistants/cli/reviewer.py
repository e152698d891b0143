"""The demo's human reviewer: watches the oversight queue and decides each held email.

It uses MultiMail's own reviewer endpoints with an oversight-scoped key, through the same
`OversightQueue` as ``mm-assistants approvals``, as a person's review tool would.
Decisions come from a `Decider`: automatic after a delay, or asked at the terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mm_assistants.cli.console import Console
from mm_assistants.multimail import MultiMailClient
from mm_assistants.review.backend import ReviewError
from mm_assistants.review.oversight import OversightQueue
from mm_assistants.review.untrusted import printable


@dataclass(frozen=True)
class Decision:
    """What the reviewer decided about one email."""

    action: str  # "approve" or "reject"
    reason: str | None = None


class Decider(Protocol):
    """Chooses a decision for a held email, or ``None`` for "not yet"."""

    def __call__(self, email: Mapping[str, Any], waited: float) -> Decision | None: ...


def after_delay(action: str, delay: float, reason: str | None = None) -> Decider:
    """Decide ``action`` once an email has waited ``delay`` seconds."""

    def decide(email: Mapping[str, Any], waited: float) -> Decision | None:
        return Decision(action, reason) if waited >= delay else None

    return decide


def at_terminal(console: Console, ask: Callable[[str], str] = input) -> Decider:
    """Show the held email and ask the person at the terminal."""

    def decide(email: Mapping[str, Any], waited: float) -> Decision | None:
        console.clear_status()
        # each field on its one line: a newline in a subject must not forge a "to:" below
        recipients = ", ".join(map(str, email.get("to") or []))
        console.line(f"  ┌ held for your review: {printable(str(email.get('id')))}")
        console.line(f"  │ to:      {printable(recipients)}")
        console.line(f"  │ subject: {printable(str(email.get('subject')))}")
        body = str(email.get("body_markdown") or email.get("markdown") or "")
        for text in printable(body, multiline=True).splitlines()[:6]:
            console.line(f"  │   {text}")
        while True:
            answer = ask("  └ approve or reject? [a/r] ").strip().lower()
            if answer in ("a", "approve"):
                return Decision("approve")
            if answer in ("r", "reject"):
                reason = ask("    reason: ").strip() or None
                return Decision("reject", reason)

    return decide


class Reviewer:
    """Polls the oversight queue and decides each held email once."""

    def __init__(
        self,
        client: MultiMailClient,
        decider: Decider,
        console: Console,
        *,
        deadline_of: Callable[[float], float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._queue = OversightQueue(client)
        self._decider = decider
        self._console = console
        self._deadline_of = deadline_of
        self._clock = clock
        self._first_seen: dict[str, float] = {}
        self.decided: dict[str, Decision] = {}

    def tick(self) -> None:
        """Look at the queue once: show the wait, decide what is due."""
        try:
            pending = self._queue.pending()
        except ReviewError as error:
            self._console.line(f"  reviewer: could not read the queue ({error})")
            return
        now = self._clock()
        for email in pending:
            email_id = str(email.get("id"))
            if email_id in self.decided:
                continue
            shown = printable(email_id)  # the queue's words, for the terminal
            if email_id not in self._first_seen:
                self._first_seen[email_id] = now
                self._console.line(
                    f"  ⏳ {shown} is held for a human's approval "
                    f"(deadline in {self._deadline_of(now) - now:.0f} s)"
                )
            seen = self._first_seen[email_id]
            waited = now - seen
            left = self._deadline_of(seen) - now
            self._console.status(
                f"  ⏳ {shown} waits for a human: {waited:4.1f} s · deadline in {left:.0f} s"
            )
            decision = self._decider(email, waited)
            if decision is not None:
                self._decide(email_id, decision, waited)

    def _decide(self, email_id: str, decision: Decision, waited: float) -> None:
        self._queue.decide(email_id, decision.action, decision.reason)
        self.decided[email_id] = decision
        verb = "approved" if decision.action == "approve" else "rejected"
        reason = f" (reason: {decision.reason})" if decision.reason else ""
        self._console.line(
            f"  reviewer ▸ {verb} {printable(email_id)} after {waited:.1f} s{printable(reason)}"
        )
