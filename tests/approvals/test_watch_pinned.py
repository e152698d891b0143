"""The approval wait's answers, pinned (issue 14): the model-facing shape of every
decision (a golden file), what each field of an outcome carries, the policy's defaults and
limits, and the oversight events' records. Each test here kills mutants of
mm_assistants/approvals/watch.py that the behavioural tests let live."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any

import pytest

from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.approvals.watch import (
    ApprovalOutcome,
    approval_evidence,
    decided_record,
    decisive,
    outcome_from_email,
)
from tests import golden

#: One email record per way a wait can end, as MultiMail (or an oversight event) shows it.
RECORDS: dict[str, dict[str, Any]] = {
    "approved-by-a-human": {
        "status": "approved_and_sent",
        "approved_at": "2026-11-22T10:00:00Z",
        "approved_by": "op@example.com",
        "delivered_at": "2026-11-22T10:00:02Z",
    },
    "approved-decide-answer-only": {"status": "approved_and_sent"},
    "delivered-without-a-gate": {"status": "read", "delivered_at": "2026-11-22T10:00:02Z"},
    "scheduled-approved": {
        "status": "scheduled",
        "send_at": "2026-12-01T09:00:00Z",
        "gate_timing": "gate_first",
        "approved_at": "2026-11-22T10:00:00Z",
        "approved_by": "op@example.com",
    },
    "scheduled-not-yet-approved": {
        "status": "scheduled",
        "send_at": "2026-12-01T09:00:00Z",
        "gate_timing": "schedule_first",
    },
    "scheduled-without-a-time": {"status": "scheduled"},
    "rejected": {"status": "rejected", "rejection_reason": "too informal"},
    "rejected-reason-key": {"status": "rejected", "reason": "wrong recipient"},
    "cancelled": {"status": "cancelled"},
    "send-failed": {"status": "send_failed", "error": "mailbox full"},
    "send-failed-after-approval": {
        "status": "send_failed",
        "error": "mailbox full",
        "approved_at": "2026-11-22T10:00:00Z",
    },
    "pending": {"status": "pending_send_approval"},
    "pending-scan": {"status": "pending_scan"},
    "unknown-bounced": {"status": "bounced", "delivered_at": "2026-11-22T10:00:02Z"},
    "unknown-missing-status": {},
}


def outcome(record: dict[str, Any], **extra: Any) -> ApprovalOutcome:
    return outcome_from_email(
        "em_1",
        {"thread_id": "th_1", **record},
        waited=extra.get("waited", 42.4),
        status_checks=extra.get("status_checks", 5),
        woken_by=extra.get("woken_by", "poll"),
    )


def test_every_decision_answers_the_model_in_its_golden_shape() -> None:
    answers = {name: outcome(record).as_output() for name, record in RECORDS.items()}
    golden.check("approval_outcomes.json", answers)


def test_a_cancelled_send_does_not_tell_the_model_to_wait_for_a_decision() -> None:
    answer = outcome({"status": "cancelled"}).as_output()
    assert answer == {
        "id": "em_1",
        "thread_id": "th_1",
        "status": "cancelled",
        "note": "The message was cancelled before it was sent; nothing waits for a decision. "
        "Do not send it again unless the user asks for it.",
    }


@pytest.mark.parametrize("status", ["bounced", "sent", "approved", "", None])
def test_an_unexpected_status_is_never_reported_as_approved_and_sent(status: Any) -> None:
    record = {} if status is None else {"status": status}
    answer = outcome(record).as_output()
    assert answer["status"] == "unknown"
    assert answer.get("email_status") == (status or None)
    assert "approved_at" not in answer
    assert not outcome(record).settled


def test_the_decision_answer_keeps_what_the_record_and_the_wait_say() -> None:
    result = outcome(RECORDS["approved-by-a-human"], waited=12.5, status_checks=3, woken_by="hub")
    assert dataclasses.asdict(result) == {
        "email_id": "em_1",
        "decision": "approved",
        "status": "approved_and_sent",
        "reason": None,
        "approved_at": "2026-11-22T10:00:00Z",
        "approved_by": "op@example.com",
        "delivered_at": "2026-11-22T10:00:02Z",
        "thread_id": "th_1",
        "waited": 12.5,
        "status_checks": 3,
        "woken_by": "hub",
        "send_at": None,
        "gate_timing": None,
    }
    answer = result.as_output()
    assert answer["thread_id"] == "th_1"
    assert answer["approved_at"] == "2026-11-22T10:00:00Z"
    assert answer["delivered_at"] == "2026-11-22T10:00:02Z"
    # the pending answer says how long the wait lasted, rounded to whole seconds
    assert "after 13 s" in outcome({"status": "pending_scan"}, waited=12.6).as_output()["note"]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        pytest.param({"rejection_reason": "a", "reason": "b", "error": "c"}, "a", id="rejection"),
        pytest.param({"reason": "b", "error": "c"}, "b", id="reason"),
        pytest.param({"error": "c"}, "c", id="error"),
        pytest.param({"rejection_reason": "", "error": "c"}, "c", id="empty-skipped"),
        pytest.param({}, None, id="none"),
    ],
)
def test_the_reason_is_the_first_one_the_record_gives(
    record: dict[str, Any], reason: str | None
) -> None:
    assert outcome({"status": "rejected", **record}).reason == reason


def test_a_scheduled_record_keeps_its_time_and_gate() -> None:
    result = outcome(RECORDS["scheduled-not-yet-approved"])
    assert (result.send_at, result.gate_timing) == ("2026-12-01T09:00:00Z", "schedule_first")
    assert outcome(RECORDS["scheduled-approved"]).settled


@pytest.mark.parametrize(
    ("approved_at", "status", "by_human"),
    [
        pytest.param("t", "read", True, id="approved-at"),
        pytest.param(None, "approved_and_sent", True, id="decide-answer"),
        pytest.param(None, "read", False, id="delivered-only"),
    ],
)
def test_approved_by_human_needs_approval_not_delivery(
    approved_at: str | None, status: str, by_human: bool
) -> None:
    result = ApprovalOutcome(
        email_id="em_1", decision="approved", status=status, approved_at=approved_at
    )
    assert result.approved_by_human is by_human


@pytest.mark.parametrize(
    ("email", "evidence"),
    [
        pytest.param({"approved_at": "t"}, True, id="approved-at"),
        pytest.param({"delivered_at": "t"}, True, id="delivered-at"),
        pytest.param({"approved_at": "", "delivered_at": None}, False, id="empty"),
        pytest.param({"approved_by": "op"}, False, id="who-is-not-when"),
    ],
)
def test_approval_evidence(email: dict[str, Any], evidence: bool) -> None:
    assert approval_evidence(email) is evidence


@pytest.mark.parametrize(
    ("email", "decides"),
    [
        pytest.param({"status": "approved_and_sent"}, True, id="approved"),
        pytest.param({"status": "scheduled"}, True, id="scheduled"),
        pytest.param({"status": "rejected"}, True, id="rejected"),
        pytest.param({"status": "cancelled"}, True, id="cancelled"),
        pytest.param({"status": "send_failed"}, True, id="send-failed"),
        pytest.param({"status": "pending_send_approval"}, False, id="pending"),
        pytest.param({"status": "bounced"}, False, id="unknown"),
    ],
)
def test_decisive_says_whether_a_wait_may_end(email: dict[str, Any], decides: bool) -> None:
    assert decisive(email) is decides


AT = datetime(2026, 11, 22, 10, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("event", "data", "record"),
    [
        pytest.param(
            "oversight.approved",
            {"id": "em_1"},
            {"id": "em_1", "status": "approved_and_sent", "approved_at": "2026-11-22T10:00:00Z"},
            id="approved-at-the-event-time",
        ),
        pytest.param(
            "oversight.approved",
            {"id": "em_1", "approved_at": "earlier"},
            {"id": "em_1", "status": "approved_and_sent", "approved_at": "earlier"},
            id="approved-keeps-its-own-time",
        ),
        pytest.param(
            "oversight.approved",
            {"id": "em_1", "status": "scheduled"},
            {"id": "em_1", "status": "scheduled", "approved_at": "2026-11-22T10:00:00Z"},
            id="approved-and-scheduled",
        ),
        pytest.param(
            "oversight.approved",
            {"id": "em_1", "status": "send_failed"},
            {"id": "em_1", "status": "send_failed", "approved_at": "2026-11-22T10:00:00Z"},
            id="approved-then-failed",
        ),
        pytest.param(
            "oversight.rejected",
            {"id": "em_1", "reason": "no"},
            {"id": "em_1", "status": "rejected", "reason": "no"},
            id="rejected",
        ),
        pytest.param("oversight.approved", {"status": "pending_scan"}, None, id="held-scan"),
        pytest.param(
            "oversight.rejected", {"status": "pending_send_approval"}, None, id="held-approval"
        ),
        pytest.param("email.received", {"id": "em_1"}, None, id="not-a-decision"),
    ],
)
def test_an_oversight_event_stands_for_this_record(
    event: str, data: dict[str, Any], record: dict[str, Any] | None
) -> None:
    assert decided_record(event, data, at=AT) == record


def test_an_approval_without_a_time_makes_none_up() -> None:
    assert decided_record("oversight.approved", {"id": "em_1"}) == {
        "id": "em_1",
        "status": "approved_and_sent",
    }


def test_the_policy_defaults_are_pinned() -> None:
    assert dataclasses.asdict(ApprovalPolicy()) == {
        "wait": True,
        "max_wait": 540.0,
        "margin": 20.0,
        "first_delay": 0.5,
        "max_interval": 10.0,
        "multiplier": 1.6,
        "park_after": None,  # no parking unless asked for (issue 15)
    }
    # the default schedule a user's run sees: 0.5 s, growing by 1.6, capped at 10 s
    policy = ApprovalPolicy()
    assert [round(policy.step(n), 4) for n in range(8)] == [
        0.5,
        0.8,
        1.28,
        2.048,
        3.2768,
        5.2429,
        8.3886,
        10.0,
    ]


@pytest.mark.parametrize(
    "edge",
    [
        pytest.param({"max_wait": 0}, id="no-wait-time"),
        pytest.param({"margin": 0}, id="no-margin"),
        pytest.param({"multiplier": 1}, id="steady"),
        pytest.param({"wait": False}, id="no-wait"),
        pytest.param({"first_delay": 0.001, "max_interval": 0.001}, id="tiny-steps"),
    ],
)
def test_the_edges_of_each_limit_are_accepted(edge: dict[str, Any]) -> None:
    assert dataclasses.asdict(ApprovalPolicy(**edge)).items() >= edge.items()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        pytest.param(
            {"max_wait": float("inf")},
            "ApprovalPolicy.max_wait must be a finite number >= 0, got inf",
            id="max-wait-inf",
        ),
        pytest.param(
            {"max_wait": -1}, "ApprovalPolicy.max_wait must be >= 0, got -1", id="max-wait-neg"
        ),
        pytest.param(
            {"margin": float("nan")},
            "ApprovalPolicy.margin must be a finite number >= 0, got nan",
            id="margin-nan",
        ),
        pytest.param(
            {"margin": -0.5}, "ApprovalPolicy.margin must be >= 0, got -0.5", id="margin-neg"
        ),
        pytest.param(
            {"first_delay": 0}, "ApprovalPolicy.first_delay must be > 0, got 0", id="first-zero"
        ),
        pytest.param(
            {"first_delay": float("nan")},
            "ApprovalPolicy.first_delay must be a finite number > 0, got nan",
            id="first-nan",
        ),
        pytest.param(
            {"max_interval": 0},
            "ApprovalPolicy.max_interval must be > 0, got 0",
            id="interval-zero",
        ),
        pytest.param(
            {"max_interval": float("-inf")},
            "ApprovalPolicy.max_interval must be a finite number > 0, got -inf",
            id="interval-inf",
        ),
        pytest.param(
            {"multiplier": 0.99},
            "ApprovalPolicy.multiplier must be >= 1, got 0.99",
            id="multiplier-shrinks",
        ),
        pytest.param(
            {"multiplier": float("inf")},
            "ApprovalPolicy.multiplier must be a finite number >= 1, got inf",
            id="multiplier-inf",
        ),
    ],
)
def test_a_refused_policy_says_exactly_which_field_and_why(
    bad: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        ApprovalPolicy(**bad)
    assert str(refused.value) == message


def test_the_wait_switch_is_named_when_refused() -> None:
    with pytest.raises(TypeError) as refused:
        ApprovalPolicy(wait=1)  # type: ignore[arg-type]
    assert str(refused.value) == "ApprovalPolicy.wait must be True or False, got 1"


def test_a_deadline_exactly_now_ends_the_wait() -> None:
    policy = ApprovalPolicy(first_delay=1, multiplier=1, max_interval=1)
    assert policy.delay(0, 10.0, 10.0) is None
    assert policy.delay(0, 9.5, 10.0) == 0.5
    assert policy.delay(0, 5.0, 10.0) == 1.0


def test_a_wait_that_ended_without_reading_a_status_reports_the_email_held() -> None:
    # a deadline that came before any status check: no status read, still held
    ended = ApprovalOutcome(email_id="em_1", decision="pending", waited=30.0, woken_by="deadline")
    assert ended.as_output()["status"] == "pending_send_approval"
    assert not ended.settled
