"""The approval wait's decisions (pure): is a held email decided, when to look again, and
how long the wait may last.

A gated send starts as ``pending_scan``, becomes ``pending_send_approval``, and ends as
one of: approved (MultiMail sets ``approved_at``/``delivered_at``; the decide call answers
``approved_and_sent``), ``rejected`` (with the reviewer's reason), ``cancelled`` or
``send_failed``. A wait that outlives its deadline ends as ``pending``: the email is still
held and the decision will come later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Decision = Literal["approved", "rejected", "cancelled", "send_failed", "pending"]
PENDING_STATUSES = frozenset({"pending_scan", "pending_send_approval"})
FINAL_STATUSES: Mapping[str, Decision] = {
    "rejected": "rejected",
    "cancelled": "cancelled",
    "send_failed": "send_failed",
}


@dataclass(frozen=True, kw_only=True)
class ApprovalPolicy:
    """How the drivers wait for a human's decision on a held send.

    ``wait=False`` hands the pending status straight to the model. Otherwise the wait
    lasts at most ``max_wait`` seconds and always ends ``margin`` seconds before the run
    expires, so the outputs are submitted in time. Status checks start ``first_delay``
    after the send and grow by ``multiplier`` up to ``max_interval``; an approval hub fed
    by webhooks wakes the wait at once instead.
    """

    wait: bool = True
    max_wait: float = 540.0
    margin: float = 20.0
    first_delay: float = 0.5
    max_interval: float = 10.0
    multiplier: float = 1.6

    def __post_init__(self) -> None:
        if not isinstance(self.wait, bool):
            raise TypeError(f"ApprovalPolicy.wait is True or False, not {self.wait!r}")
        for name in ("max_wait", "margin", "first_delay", "max_interval"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"ApprovalPolicy.{name} must be a finite number >= 0, not {value!r}"
                )
        if self.first_delay <= 0 or self.max_interval <= 0:
            raise ValueError("ApprovalPolicy.first_delay and max_interval must be > 0")
        if self.multiplier < 1:
            raise ValueError("ApprovalPolicy.multiplier must be >= 1")

    def deadline(self, now: float, expires_at: float | None = None) -> float:
        """When a wait that starts at ``now`` must end (unix seconds)."""
        end = now + self.max_wait
        if expires_at is not None:
            end = min(end, expires_at - self.margin)
        return end

    def delay(self, looks: int, now: float, deadline: float) -> float | None:
        """Seconds until the next status check after ``looks`` checks, or ``None`` when the
        deadline has come."""
        remaining = deadline - now
        if remaining <= 0:
            return None
        step = min(self.first_delay * self.multiplier**looks, self.max_interval)
        return min(step, remaining)


@dataclass(frozen=True)
class ApprovalOutcome:
    """How a wait for one held email ended."""

    email_id: str
    decision: Decision
    status: str | None = None
    reason: str | None = None
    approved_at: str | None = None
    approved_by: str | None = None
    delivered_at: str | None = None
    thread_id: str | None = None
    waited: float = 0.0
    status_checks: int = 0
    woken_by: str = "poll"  # "poll", "hub", "deadline", "cancel" or "webhook" (late)

    def as_output(self) -> dict[str, Any]:
        """The JSON object the model reads instead of the bare pending answer."""
        answer: dict[str, Any] = {"id": self.email_id, "thread_id": self.thread_id}
        if self.decision == "approved":
            answer["status"] = "approved_and_sent"
            answer["approved_at"] = self.approved_at
            answer["approved_by"] = self.approved_by
            answer["delivered_at"] = self.delivered_at
            answer["note"] = "A human approved the message and it was sent."
        elif self.decision == "rejected":
            answer["status"] = "rejected"
            answer["reason"] = self.reason
            answer["note"] = (
                "A human rejected the message; it was not sent. Do not send it again "
                "unchanged: report the reason, or revise it if the reason asks for that."
            )
        elif self.decision == "cancelled":
            answer["status"] = "cancelled"
            answer["note"] = "The message was cancelled before it was sent."
        elif self.decision == "send_failed":
            answer["status"] = "send_failed"
            answer["reason"] = self.reason
            answer["note"] = "The message was approved but could not be delivered."
        else:
            answer["status"] = self.status or "pending_send_approval"
            answer["note"] = (
                f"Still waiting for a human's decision after {round(self.waited)} s. The "
                "message stays queued; do not send it again. The outcome will be reported "
                "when it is decided."
            )
        return {key: value for key, value in answer.items() if value is not None}


def classify(email: Mapping[str, Any]) -> Decision:
    """The decision an email record shows (``pending`` while it is still held)."""
    status = email.get("status")
    if status in PENDING_STATUSES:
        return "pending"
    if isinstance(status, str) and status in FINAL_STATUSES:
        return FINAL_STATUSES[status]
    return "approved"


def outcome_from_email(
    email_id: str,
    email: Mapping[str, Any],
    *,
    waited: float,
    status_checks: int,
    woken_by: str,
) -> ApprovalOutcome:
    """An `ApprovalOutcome` from an email record (or an oversight event's data)."""
    reason = email.get("rejection_reason") or email.get("reason") or email.get("error")
    return ApprovalOutcome(
        email_id=email_id,
        decision=classify(email),
        status=_text(email.get("status")),
        reason=_text(reason),
        approved_at=_text(email.get("approved_at")),
        approved_by=_text(email.get("approved_by")),
        delivered_at=_text(email.get("delivered_at")),
        thread_id=_text(email.get("thread_id")),
        waited=waited,
        status_checks=status_checks,
        woken_by=woken_by,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
