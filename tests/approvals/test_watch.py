"""Pure decisions of the approval wait."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm_assistants.approvals import ApprovalPolicy, classify
from mm_assistants.approvals.watch import outcome_from_email


@pytest.mark.parametrize(
    ("email", "decision"),
    [
        pytest.param({"status": "pending_scan"}, "pending", id="scan"),
        pytest.param({"status": "pending_send_approval"}, "pending", id="held"),
        pytest.param({"status": "rejected"}, "rejected", id="rejected"),
        pytest.param({"status": "cancelled"}, "cancelled", id="cancelled"),
        pytest.param({"status": "send_failed"}, "send_failed", id="failed"),
        pytest.param({"status": "approved_and_sent"}, "approved", id="decide-answer"),
        pytest.param({"status": "read", "approved_at": "t"}, "approved", id="approved-at"),
        pytest.param({"status": "read", "delivered_at": "t"}, "approved", id="delivered-at"),
        pytest.param({"status": "approved", "approved_at": "t"}, "approved", id="approved-at-2"),
        pytest.param({"status": "scheduled", "approved_at": "t"}, "scheduled", id="scheduled-ok"),
        pytest.param({"status": "scheduled"}, "scheduled", id="scheduled-unapproved"),
        # an approval needs MultiMail's evidence; anything else is not known to be sent
        pytest.param({"status": "approved"}, "unknown", id="approved-no-evidence"),
        pytest.param({"status": "read"}, "unknown", id="read-no-evidence"),
        pytest.param({"status": "approved", "approved_at": ""}, "unknown", id="empty-evidence"),
        pytest.param({}, "unknown", id="missing"),
        pytest.param({"status": None}, "unknown", id="none"),
        pytest.param({"status": 3}, "unknown", id="not-text"),
        pytest.param({"status": "bounced", "delivered_at": "t"}, "unknown", id="future"),
        pytest.param({"status": "sent", "delivered_at": "t"}, "unknown", id="no-sent-status"),
    ],
)
def test_classify(email: dict[str, Any], decision: str) -> None:
    assert classify(email) == decision


def test_the_deadline_is_the_earlier_of_max_wait_and_expiry_minus_margin() -> None:
    policy = ApprovalPolicy(max_wait=100, margin=20)
    assert policy.deadline(1000.0) == 1100.0
    assert policy.deadline(1000.0, expires_at=1050.0) == 1030.0
    assert policy.deadline(1000.0, expires_at=5000.0) == 1100.0


def test_delays_grow_then_cap_and_never_pass_the_deadline() -> None:
    policy = ApprovalPolicy(first_delay=0.5, multiplier=2, max_interval=3)
    delays = [policy.delay(n, 0.0, 100.0) for n in range(6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.delay(0, 99.8, 100.0) == pytest.approx(0.2)
    assert policy.delay(3, 100.0, 100.0) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"max_wait": -1},
        {"margin": float("nan")},
        {"first_delay": 0},
        {"multiplier": 0.5},
        {"max_interval": "5"},
    ],
)
def test_bad_policies_fail_at_construction(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="ApprovalPolicy"):
        ApprovalPolicy(**bad)


def test_a_number_is_not_taken_for_the_wait_switch() -> None:
    # ApprovalPolicy(300) reads like "wait up to 300 s"; it must not mean wait=300
    with pytest.raises(TypeError):
        ApprovalPolicy(300)  # type: ignore[misc]
    with pytest.raises(TypeError, match="True or False"):
        ApprovalPolicy(wait=300)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("email", "status", "key"),
    [
        pytest.param(
            {"status": "approved_and_sent", "approved_by": "op@x", "approved_at": "t1"},
            "approved_and_sent",
            "approved_by",
            id="approved",
        ),
        pytest.param(
            {"status": "rejected", "rejection_reason": "tone"}, "rejected", "reason", id="rejected"
        ),
        pytest.param({"status": "cancelled"}, "cancelled", "note", id="cancelled"),
        pytest.param(
            {"status": "send_failed", "error": "bounce"}, "send_failed", "reason", id="failed"
        ),
        pytest.param(
            {"status": "pending_send_approval"}, "pending_send_approval", "note", id="pending"
        ),
    ],
)
def test_each_outcome_tells_the_model_exactly_one_thing(
    email: dict[str, Any], status: str, key: str
) -> None:
    outcome = outcome_from_email(
        "em_1", {**email, "thread_id": "th"}, waited=3.2, status_checks=2, woken_by="poll"
    )
    output = outcome.as_output()
    assert output["status"] == status
    assert output["id"] == "em_1"
    assert output[key]
    if status == "pending_send_approval":
        assert "do not send it again" in output["note"]


KNOWN = [
    pytest.param({"status": "pending_scan"}, id="pending_scan"),
    pytest.param({"status": "pending_send_approval"}, id="pending_send_approval"),
    pytest.param({"status": "approved_and_sent"}, id="approved_and_sent"),
    pytest.param({"status": "read", "approved_at": "t1", "delivered_at": "t2"}, id="read"),
    pytest.param({"status": "unread", "delivered_at": "t2"}, id="unread"),
    pytest.param({"status": "archived", "approved_at": "t1"}, id="archived"),
    pytest.param({"status": "deleted", "approved_at": "t1"}, id="deleted"),
    pytest.param({"status": "scheduled", "send_at": "2026-12-01T09:00:00Z"}, id="scheduled"),
    pytest.param(
        {"status": "scheduled", "send_at": "2026-12-01T09:00:00Z", "approved_at": "t1"},
        id="scheduled-approved",
    ),
    pytest.param({"status": "rejected", "rejection_reason": "tone"}, id="rejected"),
    pytest.param({"status": "cancelled"}, id="cancelled"),
    pytest.param({"status": "send_failed", "error": "bounce"}, id="send_failed"),
    pytest.param({"status": "send_failed", "approved_at": "t1"}, id="send_failed-approved"),
    pytest.param({"status": "approved"}, id="approved-without-evidence"),
    pytest.param({}, id="missing"),
    pytest.param({"status": "bounced"}, id="bounced"),
]


STATUS_WORDS = {
    "pending_scan",
    "pending_send_approval",
    "approved_and_sent",
    "approved",
    "read",
    "unread",
    "archived",
    "deleted",
    "scheduled",
    "rejected",
    "cancelled",
    "send_failed",
    "sent",
    "bounced",
}


def output_of(email: dict[str, Any]) -> dict[str, Any]:
    outcome = outcome_from_email(
        "em_1", {**email, "thread_id": "th"}, waited=3.2, status_checks=2, woken_by="poll"
    )
    return outcome.as_output()


@pytest.mark.parametrize("email", KNOWN)
def test_only_evidence_of_approval_is_reported_as_approved_and_sent(
    email: dict[str, Any],
) -> None:
    output = output_of(email)
    says_sent = output["status"] == "approved_and_sent"
    evidence = email.get("status") == "approved_and_sent" or bool(
        email.get("approved_at") or email.get("delivered_at")
    )
    assert says_sent == (classify(email) == "approved")
    if says_sent:
        assert evidence
    if "approved" in output["note"].lower() and "not" not in output["note"]:
        assert email.get("approved_at") or email.get("status") == "approved_and_sent"


@pytest.mark.parametrize("email", KNOWN)
def test_every_note_matches_its_outcome(email: dict[str, Any]) -> None:
    decision = classify(email)
    note = output_of(email)["note"]
    if decision != "pending":
        assert "still waiting" not in note.lower()
    if decision in ("rejected", "cancelled", "unknown", "pending", "scheduled"):
        assert "do not send it again" in note.lower()
    if decision == "send_failed" and not email.get("approved_at"):
        assert "approved" not in note


def test_a_schedule_first_email_is_scheduled_and_not_approved() -> None:
    email = {
        "status": "scheduled",
        "send_at": "2026-12-01T09:00:00Z",
        "gate_timing": "schedule_first",
    }
    outcome = outcome_from_email("em_1", email, waited=1.0, status_checks=1, woken_by="poll")
    output = outcome.as_output()
    assert outcome.decision == "scheduled"
    assert not outcome.settled  # the human decides at send time: keep the record
    assert output["status"] == "scheduled"
    assert output["send_at"] == "2026-12-01T09:00:00Z"
    assert "approved_at" not in output
    assert "2026-12-01T09:00:00Z" in output["note"]
    assert "not been approved" in output["note"]


def test_an_approved_scheduled_email_is_settled_and_says_when_it_goes() -> None:
    email = {"status": "scheduled", "send_at": "2026-12-01T09:00:00Z", "approved_at": "t1"}
    outcome = outcome_from_email("em_1", email, waited=1.0, status_checks=1, woken_by="poll")
    assert outcome.settled
    note = outcome.as_output()["note"]
    assert "approved" in note
    assert "2026-12-01T09:00:00Z" in note


@pytest.mark.parametrize(
    "email",
    [
        pytest.param({}, id="missing"),
        pytest.param({"status": "bounced"}, id="future"),
        pytest.param({"status": "approved"}, id="approved-without-evidence"),
    ],
)
def test_an_unknown_status_is_not_reported_as_sent_and_is_kept(email: dict[str, Any]) -> None:
    outcome = outcome_from_email("em_1", email, waited=1.0, status_checks=1, woken_by="poll")
    output = outcome.as_output()
    assert outcome.decision == "unknown"
    assert not outcome.settled
    assert output["status"] == "unknown"
    assert output.get("email_status") == email.get("status")
    assert "not known to have been sent" in output["note"]
    assert "do not send it again" in output["note"].lower()


@pytest.mark.parametrize(
    ("decision_email", "settled"),
    [
        pytest.param({"status": "approved_and_sent"}, True, id="approved"),
        pytest.param({"status": "rejected"}, True, id="rejected"),
        pytest.param({"status": "cancelled"}, True, id="cancelled"),
        pytest.param({"status": "send_failed"}, True, id="send_failed"),
        pytest.param({"status": "pending_send_approval"}, False, id="pending"),
    ],
)
def test_settled_says_whether_the_record_can_go(
    decision_email: dict[str, Any], settled: bool
) -> None:
    outcome = outcome_from_email("em_1", decision_email, waited=0, status_checks=0, woken_by="x")
    assert outcome.settled is settled


@given(
    status=st.one_of(st.none(), st.text(max_size=24), st.sampled_from(sorted(STATUS_WORDS))),
    approved_at=st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=8)),
    delivered_at=st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=8)),
)
def test_nothing_reads_as_approved_without_evidence(
    status: str | None, approved_at: str | None, delivered_at: str | None
) -> None:
    email = {"status": status, "approved_at": approved_at, "delivered_at": delivered_at}
    decision = classify(email)
    if decision == "approved":
        assert status == "approved_and_sent" or approved_at or delivered_at
    output = outcome_from_email("em_1", email, waited=0, status_checks=1, woken_by="poll")
    if output.as_output()["status"] == "approved_and_sent":
        assert decision == "approved"
    if decision in ("pending", "unknown"):
        assert not output.settled
