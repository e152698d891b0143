"""Pure decisions of the approval wait."""

from __future__ import annotations

from typing import Any

import pytest

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
        pytest.param({"status": "scheduled", "approved_at": "t"}, "approved", id="scheduled"),
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
