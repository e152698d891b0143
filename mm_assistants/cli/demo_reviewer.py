"""The demo's human reviewer: watches the oversight queue and decides each held email.

It uses MultiMail's own reviewer endpoints with an oversight-scoped key, through the same
`OversightQueue` as ``mm-assistants approvals``, as a person's review tool would.
Decisions come from a `Decider`: automatic after a delay, or asked at the terminal. A held
email may also be decided elsewhere first (the review page, ``mm-assistants approvals``):
the reviewer then says so and never decides it again.
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
            answer = _ask(ask, "  └ approve or reject? [a/r] ").strip().lower()
            if answer in ("a", "approve"):
                return Decision("approve")
            if answer in ("r", "reject"):
                reason = _ask(ask, "    reason: ").strip() or None
                return Decision("reject", reason)

    return decide


def _ask(ask: Callable[[str], str], prompt: str) -> str:
    """One answer; Ctrl-D (end of input) is the person leaving, as Ctrl-C is: both end the
    demo as an interrupt, not as a traceback or a decision nobody made."""
    try:
        return ask(prompt)
    except EOFError:
        raise KeyboardInterrupt from None


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
        #: the decisions made here, by email id
        self.decided: dict[str, Decision] = {}
        #: held emails that left the queue decided by someone else
        self.elsewhere: set[str] = set()

    def tick(self) -> None:
        """Look at the queue once: show the wait, decide what is due, and tell of emails
        that left the queue without a decision from here (decided elsewhere)."""
        try:
            pending = self._queue.pending()
        except ReviewError as error:
            self._console.line(f"  reviewer: could not read the queue ({error})")
            return
        now = self._clock()
        self._note_decided_elsewhere({str(email.get("id")) for email in pending})
        for email in pending:
            email_id = str(email.get("id"))
            if email_id in self.decided or email_id in self.elsewhere:
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
                self._decide(email_id, decision)

    def _decide(self, email_id: str, decision: Decision) -> None:
        shown = printable(email_id)
        try:
            self._queue.decide(email_id, decision.action, decision.reason)
        except ReviewError as error:
            if error.status == 409:  # someone was quicker, e.g. on the review page
                self.elsewhere.add(email_id)
                self._console.line(f"  reviewer ▸ {shown} was already decided elsewhere")
            else:
                self._console.line(f"  reviewer: could not decide {shown} ({error})")
            return
        self.decided[email_id] = decision
        # measured after the decision: a person's prompt may have taken many seconds
        waited = self._clock() - self._first_seen[email_id]
        verb = "approved" if decision.action == "approve" else "rejected"
        reason = f" (reason: {decision.reason})" if decision.reason else ""
        self._console.line(f"  reviewer ▸ {verb} {shown} after {waited:.1f} s{printable(reason)}")

    def _note_decided_elsewhere(self, still_held: set[str]) -> None:
        for email_id in self._first_seen:
            if email_id in still_held or email_id in self.decided or email_id in self.elsewhere:
                continue
            self.elsewhere.add(email_id)
            self._console.clear_status()
            self._console.line(
                f"  reviewer ▸ {printable(email_id)} was decided elsewhere "
                "(the review page?); nothing to do here"
            )
