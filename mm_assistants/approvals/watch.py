"""The approval wait's decisions (pure): is a held email decided, when to look again, and
how long the wait may last.

A gated send starts as ``pending_scan``, becomes ``pending_send_approval``, and ends as
one of: approved (MultiMail sets ``approved_at``/``delivered_at``; the decide call answers
``approved_and_sent``), ``rejected`` (with the reviewer's reason), ``cancelled`` or
``send_failed``. A scheduled send may also rest as ``scheduled``: approved and waiting for
its ``send_at`` (``gate_first``), or not yet approved, the human being asked when the time
comes (``schedule_first``). A wait that outlives its deadline ends as ``pending``: the email
is still held and the decision will come later.

Only evidence counts as approval: MultiMail's status enum has no ``sent``, so an email
reads as approved and sent when it carries ``approved_at`` or ``delivered_at`` (or is the
decide call's own ``approved_and_sent`` answer). Any other status, a missing one, or one
this library does not know yet is ``unknown``: the model is told the email is not known
to have been sent, and the pending record is kept until a real decision shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mm_assistants import _validate

Decision = Literal[
    "approved", "scheduled", "rejected", "cancelled", "send_failed", "pending", "unknown"
]
PENDING_STATUSES = frozenset({"pending_scan", "pending_send_approval"})
FINAL_STATUSES: Mapping[str, Decision] = {
    "rejected": "rejected",
    "cancelled": "cancelled",
    "send_failed": "send_failed",
}
#: What the decide call answers for an approved send; it is MultiMail's own word for
#: "approved and sent", so it needs no further evidence.
DECIDE_ANSWER = "approved_and_sent"
#: Statuses an approved outbound email may show afterwards (``read`` is how MultiMail
#: files a delivered one). Each means "approved" only with evidence (`approval_evidence`).
APPROVED_STATUSES = frozenset({"approved", "read", "unread", "archived", "deleted"})
#: The decisions a wait (or a hub) may end on; ``pending`` and ``unknown`` decide nothing.
DECISIVE: frozenset[Decision] = frozenset(
    {"approved", "scheduled", "rejected", "cancelled", "send_failed"}
)
DECISION_EVENTS = frozenset({"oversight.approved", "oversight.rejected"})


@dataclass(frozen=True, kw_only=True)
class ApprovalPolicy:
    """How the drivers wait for a human's decision on a held send.

    ``wait=False`` hands the pending status straight to the model. Otherwise the wait
    lasts at most ``max_wait`` seconds and always ends ``margin`` seconds before the run
    expires, so the outputs are submitted in time. Status checks start ``first_delay``
    after the send and grow by ``multiplier`` up to ``max_interval``; an approval hub fed
    by webhooks wakes the wait at once instead.

    ``park_after`` (seconds, Responses drivers with a checkpoint store only) ends the wait
    of a step early: a held send still undecided after it *parks* the run (its checkpoint
    is stored, nothing waits) and ``driver.resume(checkpoint_id)`` finishes it once the
    human decided. It must be positive, finite and below ``max_wait``, and needs
    ``wait=True``. `AssistantsRunDriver` ignores it (a run expires about 10 minutes after
    it starts, so it keeps today's wait).
    """

    wait: bool = True
    max_wait: float = 540.0
    margin: float = 20.0
    first_delay: float = 0.5
    max_interval: float = 10.0
    multiplier: float = 1.6
    park_after: float | None = None

    def __post_init__(self) -> None:
        # The rules every policy shares (mm_assistants._validate): finite numbers, no bools.
        _validate.switch("ApprovalPolicy", "wait", self.wait)
        _validate.number("ApprovalPolicy", "max_wait", self.max_wait)
        _validate.number("ApprovalPolicy", "margin", self.margin)
        _validate.number("ApprovalPolicy", "first_delay", self.first_delay, above=True)
        _validate.number("ApprovalPolicy", "max_interval", self.max_interval, above=True)
        _validate.number("ApprovalPolicy", "multiplier", self.multiplier, minimum=1)
        _validate.optional_number("ApprovalPolicy", "park_after", self.park_after, above=True)
        if self.park_after is not None:
            if not self.wait:
                raise ValueError(
                    "ApprovalPolicy.park_after needs wait=True (a run that does not wait has"
                    " nothing to park)"
                )
            if self.park_after >= self.max_wait:
                raise ValueError(
                    f"ApprovalPolicy.park_after ({self.park_after:g} s) must be below"
                    f" max_wait ({self.max_wait:g} s)"
                )

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
        return min(self.step(looks), remaining)

    def step(self, looks: int) -> float:
        """The pause the schedule puts after ``looks`` status checks (no deadline applied)."""
        return min(self.first_delay * self.multiplier**looks, self.max_interval)


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
    send_at: str | None = None
    gate_timing: str | None = None

    @property
    def settled(self) -> bool:
        """Whether this is the human's (or MultiMail's) last word on the email, so its
        pending record may go. A scheduled email nobody approved yet, a still-held one and
        an unknown status are not: the real decision must still reach the conversation."""
        if self.decision == "scheduled":
            return self.approved_at is not None
        return self.decision in DECISIVE

    @property
    def approved_by_human(self) -> bool:
        """Whether a human's approval shows (``approved_at``, or the decide call's answer);
        an email merely delivered (``delivered_at``) was sent, maybe without a gate."""
        return self.approved_at is not None or self.status == DECIDE_ANSWER

    def as_output(self) -> dict[str, Any]:
        """The JSON object the model reads instead of the bare pending answer."""
        answer: dict[str, Any] = {"id": self.email_id, "thread_id": self.thread_id}
        answer.update(_OUTPUTS[self.decision](self))
        return {key: value for key, value in answer.items() if value is not None}


def _approved(outcome: ApprovalOutcome) -> dict[str, Any]:
    return {
        "status": "approved_and_sent",
        "approved_at": outcome.approved_at,
        "approved_by": outcome.approved_by,
        "delivered_at": outcome.delivered_at,
        "note": "A human approved the message and it was sent."
        if outcome.approved_by_human
        else "The message was sent.",
    }


def _scheduled(outcome: ApprovalOutcome) -> dict[str, Any]:
    when = outcome.send_at or "its scheduled time"
    if outcome.approved_at is not None:
        note = (
            f"A human approved the message; it is scheduled and will be sent at {when}. "
            "Do not send it again."
        )
    else:
        note = (
            f"The message is scheduled for {when} and has not been approved: on a gated "
            "mailbox (gate_timing schedule_first) a human is asked to approve it when that "
            "time comes. It is not sent yet; do not send it again. The outcome will be "
            "reported when it is decided."
        )
    return {
        "status": "scheduled",
        "send_at": outcome.send_at,
        "gate_timing": outcome.gate_timing,
        "approved_at": outcome.approved_at,
        "approved_by": outcome.approved_by,
        "note": note,
    }


def _rejected(outcome: ApprovalOutcome) -> dict[str, Any]:
    return {
        "status": "rejected",
        "reason": outcome.reason,
        "note": "A human rejected the message; it was not sent. Do not send it again "
        "unchanged: report the reason, or revise it if the reason asks for that.",
    }


def _cancelled(outcome: ApprovalOutcome) -> dict[str, Any]:
    return {
        "status": "cancelled",
        "note": "The message was cancelled before it was sent; nothing waits for a decision. "
        "Do not send it again unless the user asks for it.",
    }


def _send_failed(outcome: ApprovalOutcome) -> dict[str, Any]:
    approved = "was approved but " if outcome.approved_at is not None else ""
    return {
        "status": "send_failed",
        "reason": outcome.reason,
        "approved_at": outcome.approved_at,
        "note": f"The message {approved}could not be delivered.",
    }


def _pending(outcome: ApprovalOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status or "pending_send_approval",
        "note": f"Still waiting for a human's decision after {round(outcome.waited)} s. The "
        "message stays queued; do not send it again. The outcome will be reported when it "
        "is decided.",
    }


def _unknown(outcome: ApprovalOutcome) -> dict[str, Any]:
    return {
        "status": "unknown",
        "email_status": outcome.status,
        "note": "The message's status is not one that shows a decision, so it is not known "
        "to have been sent (nor approved). Do not send it again; the outcome will be "
        "reported when it is known.",
    }


_OUTPUTS = {
    "approved": _approved,
    "scheduled": _scheduled,
    "rejected": _rejected,
    "cancelled": _cancelled,
    "send_failed": _send_failed,
    "pending": _pending,
    "unknown": _unknown,
}


def classify(email: Mapping[str, Any]) -> Decision:
    """The decision an email record shows: ``pending`` while it is still held, ``unknown``
    when its status is missing, not known here, or claims approval without evidence.

    Example::

        classify({"status": "read", "approved_at": "2026-11-22T10:00:00Z"})  # 'approved'
        classify({"status": "scheduled"})                                   # 'scheduled'
        classify({"status": "approved"})                                    # 'unknown'
    """
    status = email.get("status")
    if not isinstance(status, str):
        return "unknown"
    if status in PENDING_STATUSES:
        return "pending"
    if status in FINAL_STATUSES:
        return FINAL_STATUSES[status]
    if status == "scheduled":
        return "scheduled"
    if status == DECIDE_ANSWER or (status in APPROVED_STATUSES and approval_evidence(email)):
        return "approved"
    return "unknown"


def approval_evidence(email: Mapping[str, Any]) -> bool:
    """Whether ``email`` carries MultiMail's evidence of approval or delivery."""
    return any(_text(email.get(key)) for key in ("approved_at", "delivered_at"))


def decisive(email: Mapping[str, Any]) -> bool:
    """Whether ``email`` shows a decision a wait may end on (not held, not unknown)."""
    return classify(email) in DECISIVE


#: How final a decision is (`decision_rank`): a fleet's `DecisionStore` never replaces a
#: kept decision with a less final one. Nothing decided (held, unknown): 0.
RANK_UNDECIDED = 0
#: ``scheduled`` and not approved (``schedule_first``): the human is asked when the time
#: comes, so approval, rejection or cancellation may still follow.
RANK_SCHEDULED = 1
#: ``scheduled`` with ``approved_at`` (``gate_first``, approved, waiting for ``send_at``):
#: only the send itself, its failure or a cancellation may still follow.
RANK_SCHEDULED_APPROVED = 2
#: Approved and sent (``approved_and_sent``, or a later status with evidence): only a
#: delivery failure (``send_failed``) may still follow.
RANK_APPROVED = 3
#: ``rejected``, ``cancelled``, ``send_failed``: MultiMail's last word, nothing follows.
RANK_FINAL = 4


def decision_rank(email: Mapping[str, Any]) -> int:
    """How final the decision ``email`` shows is, following MultiMail's lifecycle:
    held (`RANK_UNDECIDED`) < scheduled, not approved (`RANK_SCHEDULED`) < scheduled and
    approved (`RANK_SCHEDULED_APPROVED`) < approved and sent (`RANK_APPROVED`) < rejected,
    cancelled or send_failed (`RANK_FINAL`).

    Each step can only follow the ones below it (an approved email may still fail to send,
    a scheduled one may still be approved or cancelled; nothing follows a final status),
    so a record of lower rank than the one kept is stale evidence: a delayed or retried
    ``oversight.approved`` webhook arriving after the watcher read ``send_failed``. Equal
    ranks carry the same news, the later one maybe more detail: it may replace.

    Example::

        decision_rank({"status": "send_failed"})        # 4
        decision_rank({"status": "approved_and_sent"})  # 3
        decision_rank({"status": "scheduled"})          # 1
    """
    decision = classify(email)
    if decision == "scheduled":
        approved = _text(email.get("approved_at")) is not None
        return RANK_SCHEDULED_APPROVED if approved else RANK_SCHEDULED
    if decision == "approved":
        return RANK_APPROVED
    if decision in FINAL_STATUSES.values():
        return RANK_FINAL
    return RANK_UNDECIDED


def decided_record(
    event_type: str, data: Mapping[str, Any], *, at: datetime | None = None
) -> dict[str, Any] | None:
    """The email record an ``oversight.approved``/``oversight.rejected`` event stands for,
    or ``None`` when the event decides nothing.

    The event type says what was decided. An event whose own data still shows the email
    held (``pending_scan``, ``pending_send_approval``) contradicts itself: it is no
    decision, and the wait reads MultiMail's record on its own schedule instead, so the
    model is never told of an approval that the record does not show. An approval keeps a
    later status the data shows (``scheduled`` for a ``gate_first`` send that waits for
    its time, ``send_failed``) and carries ``approved_at`` when the data or the event's
    time ``at`` gives one; nothing is made up.
    """
    if event_type not in DECISION_EVENTS:
        return None
    record = dict(data)
    if record.get("status") in PENDING_STATUSES:
        return None
    if event_type == "oversight.rejected":
        record["status"] = "rejected"
        return record
    if record.get("status") not in ("scheduled", "send_failed"):
        record["status"] = DECIDE_ANSWER
    if not _text(record.get("approved_at")) and at is not None:
        record["approved_at"] = at.isoformat().replace("+00:00", "Z")
    return record


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
        send_at=_text(email.get("send_at")),
        gate_timing=_text(email.get("gate_timing")),
    )


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
