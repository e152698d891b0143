"""`decision_rank`: how final the decision an email record shows is, in MultiMail's
lifecycle order, so that a fleet never replaces a kept decision with stale news."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from mm_assistants.approvals.watch import (
    RANK_APPROVED,
    RANK_FINAL,
    RANK_SCHEDULED,
    RANK_SCHEDULED_APPROVED,
    RANK_UNDECIDED,
    decided_record,
    decision_rank,
)

AT = "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("record", "rank"),
    [
        pytest.param({}, 0, id="no-status"),
        pytest.param({"status": None}, 0, id="status-none"),
        pytest.param({"status": "pending_scan"}, 0, id="pending-scan"),
        pytest.param({"status": "pending_send_approval"}, 0, id="pending-approval"),
        pytest.param({"status": "approved"}, 0, id="approved-without-evidence"),
        pytest.param({"status": "something_new", "approved_at": AT}, 0, id="unknown-status"),
        pytest.param({"status": "scheduled"}, 1, id="scheduled-schedule-first"),
        pytest.param({"status": "scheduled", "approved_at": ""}, 1, id="scheduled-empty-at"),
        pytest.param({"status": "scheduled", "approved_at": None}, 1, id="scheduled-none-at"),
        pytest.param({"status": "scheduled", "delivered_at": AT}, 1, id="scheduled-delivered"),
        pytest.param({"status": "scheduled", "approved_at": AT}, 2, id="scheduled-gate-first"),
        pytest.param({"status": "approved_and_sent"}, 3, id="decide-answer"),
        pytest.param({"status": "approved", "approved_at": AT}, 3, id="approved-at"),
        pytest.param({"status": "read", "delivered_at": AT}, 3, id="read-delivered"),
        pytest.param({"status": "rejected"}, 4, id="rejected"),
        pytest.param({"status": "cancelled"}, 4, id="cancelled"),
        pytest.param({"status": "send_failed"}, 4, id="send-failed"),
        pytest.param({"status": "send_failed", "approved_at": AT}, 4, id="approved-then-failed"),
        pytest.param({"status": "cancelled", "approved_at": AT}, 4, id="approved-then-cancelled"),
    ],
)
def test_each_record_has_its_rank(record: dict[str, Any], rank: int) -> None:
    assert decision_rank(record) == rank


def test_the_ranks_follow_the_lifecycle_from_held_to_final() -> None:
    assert (RANK_UNDECIDED, RANK_SCHEDULED, RANK_SCHEDULED_APPROVED, RANK_APPROVED, RANK_FINAL) == (
        0,
        1,
        2,
        3,
        4,
    )


def test_a_late_approval_event_ranks_below_the_send_failed_read_since() -> None:
    late = decided_record("oversight.approved", {"email_id": "em_1", "status": "pending_scan"})
    assert late is None  # held: no decision at all
    late = decided_record("oversight.approved", {"email_id": "em_1"})
    assert late is not None
    assert decision_rank(late) < decision_rank({"status": "send_failed", "approved_at": AT})


def test_an_approval_event_for_a_scheduled_email_upgrades_the_unapproved_schedule() -> None:
    approved = decided_record(
        "oversight.approved",
        {"email_id": "em_1", "status": "scheduled"},
        at=datetime(2026, 1, 2, tzinfo=timezone.utc),
    )
    assert approved is not None
    assert decision_rank(approved) > decision_rank({"status": "scheduled"})


def test_a_rejection_event_is_final() -> None:
    rejected = decided_record("oversight.rejected", {"email_id": "em_1", "status": "approved"})
    assert rejected is not None
    assert decision_rank(rejected) == RANK_FINAL
