"""The pure state machine of an Assistants run: from a run's status, what to do next.

The sync and async drivers ask `next_action` after every response and only carry out
what it says. Polling follows the ``openai-poll-after-ms`` header of *every* response,
bounded by `PollPolicy`; without it, polls back off from a short first interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from mm_assistants import _validate

#: The run statuses a run never leaves: the one list every driver consults (`is_terminal`).
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
WORKING_STATUSES = frozenset({"queued", "in_progress", "cancelling"})
OnRequiresAction = Literal["dispatch", "return"]


def is_terminal(status: str) -> bool:
    """Whether a run in ``status`` has ended for good (``incomplete`` included): nothing is
    left to poll, dispatch or cancel."""
    return status in TERMINAL_STATUSES


@dataclass(frozen=True)
class PollPolicy:
    """How often a driver looks at a run that is still working.

    ``first_interval`` then growing by ``multiplier`` up to ``max_interval``; a server's
    ``openai-poll-after-ms`` hint wins, clamped to [``min_interval``, ``max_hint``].
    With ``learn`` (the default), the first look after a create or a submit waits as long
    as the run's previous model turn took (clamped to [``first_interval``,
    ``max_interval``]): a model that takes 300 ms a turn is then found done by one look
    instead of two, at the cost of at most that turn's length in latency.
    """

    first_interval: float = 0.2
    max_interval: float = 2.0
    multiplier: float = 1.5
    min_interval: float = 0.05
    max_hint: float = 10.0
    learn: bool = True

    def __post_init__(self) -> None:
        # The rules every policy shares (mm_assistants._validate): finite numbers, no bools.
        for name in ("first_interval", "max_interval", "min_interval", "max_hint"):
            _validate.number("PollPolicy", name, getattr(self, name), above=True)
        _validate.number("PollPolicy", "multiplier", self.multiplier, minimum=1)
        _validate.switch("PollPolicy", "learn", self.learn)
        if self.min_interval > self.max_hint:
            raise ValueError("PollPolicy.min_interval must not exceed max_hint")

    def delay(self, polls: int, hint_ms: str | None, last_turn: float | None = None) -> float:
        """Seconds to wait before the next look, after ``polls`` looks of this turn;
        ``last_turn`` is how long the run's previous model turn took, if known."""
        hint = _parse_hint(hint_ms)
        if hint is not None:
            return min(max(hint, self.min_interval), self.max_hint)
        if polls == 0 and self.learn and last_turn is not None:
            return min(max(last_turn, self.first_interval), self.max_interval)
        return min(self.first_interval * self.multiplier**polls, self.max_interval)


def _parse_hint(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        milliseconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(milliseconds) or milliseconds < 0:
        return None
    return milliseconds / 1000


@dataclass(frozen=True)
class Poll:
    """Look at the run again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True)
class Dispatch:
    """Carry out the run's pending tool calls and submit all outputs at once."""


@dataclass(frozen=True)
class Finish:
    """Stop: the run reached ``status`` (terminal, or requires_action left unanswered)."""

    status: str


@dataclass(frozen=True)
class Cancel:
    """Stop the run server-side: the driver's own deadline passed or it was cancelled."""

    reason: str


Action = Poll | Dispatch | Finish | Cancel


def next_action(
    status: str,
    *,
    polls: int,
    hint_ms: str | None,
    policy: PollPolicy,
    now: float,
    deadline: float | None,
    cancel_requested: bool = False,
    on_requires_action: OnRequiresAction = "dispatch",
    last_turn: float | None = None,
) -> Action:
    """What the driver does next for a run in ``status``.

    Unknown statuses are polled like working ones, but never past ``deadline``: no status
    can loop forever.
    """
    if is_terminal(status):
        return Finish(status)
    if cancel_requested and status != "cancelling":
        return Cancel("cancel requested")
    if status == "requires_action":
        return Dispatch() if on_requires_action == "dispatch" else Finish(status)
    if deadline is not None and now >= deadline and status != "cancelling":
        return Cancel("the driver's deadline passed")
    delay = policy.delay(polls, hint_ms, last_turn)
    if deadline is not None:
        delay = max(min(delay, deadline - now), 0.0)
    return Poll(delay)


def rejects_outputs(error: Any) -> bool:
    """True when a submit failed because the run no longer accepts outputs
    (``Runs in status "expired" do not accept tool outputs.``)."""
    message = str(getattr(error, "message", error))
    return "do not accept tool outputs" in message or "does not accept tool outputs" in message
