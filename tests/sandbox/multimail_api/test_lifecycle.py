"""The pure status rules, without HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.sandbox.multimail_api import lifecycle
from mm_assistants.sandbox.multimail_api.lifecycle import Refused

T0 = 1_000.0


def outbound(mode: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "em_1",
        "status": "pending_scan",
        "_mode": mode,
        "_scan_at": T0 + 1,
        "_send_at": None,
        "gate_timing": None,
        "approved_at": None,
        **extra,
    }


@pytest.mark.parametrize(
    ("mode", "status", "events"),
    [
        pytest.param(
            "gated_send", "pending_send_approval", ("oversight.pending",), id="gated_send"
        ),
        pytest.param("gated_all", "pending_send_approval", ("oversight.pending",), id="gated_all"),
        pytest.param("monitored", "read", ("message.sent",), id="monitored"),
        pytest.param("autonomous", "read", ("message.sent",), id="autonomous"),
    ],
)
def test_a_scanned_send_is_held_or_delivered_by_mode(
    mode: str, status: str, events: tuple[str, ...]
) -> None:
    assert lifecycle.settle(outbound(mode), T0 + 0.5).email["status"] == "pending_scan"
    change = lifecycle.settle(outbound(mode), T0 + 1)
    assert (change.email["status"], change.events) == (status, events)
    if status == "read":
        assert change.email["delivered_at"] == "1970-01-01T00:16:41.000Z"  # the scan's end
    assert change.email.get("_operator_copy", False) is (mode == "monitored")


def test_settling_twice_changes_nothing_more() -> None:
    once = lifecycle.settle(outbound("gated_send"), T0 + 5)
    again = lifecycle.settle(once.email, T0 + 50)
    assert again.email == once.email
    assert again.events == ()


def test_schedule_first_waits_for_send_at_then_asks_for_approval() -> None:
    email = outbound("gated_send", _send_at=T0 + 100, gate_timing="schedule_first")
    scheduled = lifecycle.settle(email, T0 + 2)
    assert scheduled.email["status"] == "scheduled"
    assert scheduled.events == ()
    assert lifecycle.next_due(scheduled.email) == T0 + 100
    due = lifecycle.settle(scheduled.email, T0 + 100)
    assert (due.email["status"], due.events) == ("pending_send_approval", ("oversight.pending",))


def test_gate_first_is_approved_then_sent_at_send_at() -> None:
    email = outbound("gated_send", _send_at=T0 + 100, gate_timing="gate_first")
    held = lifecycle.settle(email, T0 + 2).email
    assert held["status"] == "pending_send_approval"
    change, answer = lifecycle.decide(held, "approve", T0 + 3, "op@example.com", None)
    assert (answer, change.email["status"]) == ("approved", "scheduled")
    with pytest.raises(Refused):
        lifecycle.edit_schedule(change.email, {"subject": "x"}, None)
    with pytest.raises(Refused):
        lifecycle.cancel(change.email, T0 + 4)
    sent = lifecycle.settle(change.email, T0 + 100)
    assert (sent.email["status"], sent.events) == ("read", ("message.sent",))


def test_an_ungated_scheduled_send_is_delivered_on_time() -> None:
    email = outbound("autonomous", _send_at=T0 + 100, gate_timing="gate_first")
    assert lifecycle.settle(email, T0 + 2).email["status"] == "scheduled"
    # one settle may cross both steps when the clock jumped past send_at
    change = lifecycle.settle(email, T0 + 500)
    assert (change.email["status"], change.events) == ("read", ("message.sent",))
    assert change.email["delivered_at"] == "1970-01-01T00:18:20.000Z"


def test_decide_approve_reject_and_refuse() -> None:
    held = lifecycle.settle(outbound("gated_send"), T0 + 2).email
    approved, answer = lifecycle.decide(held, "approve", T0 + 3, "op", None)
    assert answer == "approved_and_sent"
    assert approved.events == ("oversight.approved", "message.sent")
    assert approved.email["approved_by"] == "op"
    assert approved.email["delivered_at"] is not None
    rejected, answer = lifecycle.decide(held, "reject", T0 + 3, "op", "tone")
    assert (answer, rejected.email["status"]) == ("rejected", "rejected")
    assert rejected.email["rejection_reason"] == "tone"
    with pytest.raises(Refused, match="not pending approval"):
        lifecycle.decide(approved.email, "approve", T0 + 4, "op", None)


def test_inbound_approval_delivers_to_the_inbox() -> None:
    status, events = lifecycle.inbound_status("gated_all", None)
    assert (status, events) == ("pending_inbound_approval", ("oversight.pending",))
    change, answer = lifecycle.decide({"status": status}, "approve", T0, "op", None)
    assert (answer, change.email["status"]) == ("approved", "unread")
    assert change.events == ("oversight.approved", "message.received")


@pytest.mark.parametrize(
    ("mode", "verdict", "status"),
    [
        pytest.param("gated_send", None, "unread", id="gated_send"),
        pytest.param("read_only", None, "unread", id="read_only"),
        pytest.param("autonomous", "quarantined", "spam_quarantined", id="quarantined"),
        pytest.param("gated_all", "flagged", "spam_flagged", id="flagged"),
    ],
)
def test_inbound_status(mode: str, verdict: str | None, status: str) -> None:
    assert lifecycle.inbound_status(mode, verdict)[0] == status


def test_cancel_rules() -> None:
    held = lifecycle.settle(outbound("gated_send"), T0 + 2).email
    cancelled = lifecycle.cancel(held, T0 + 3).email
    assert cancelled["status"] == "cancelled"
    assert lifecycle.cancel(cancelled, T0 + 4).email == cancelled
    assert lifecycle.cancel(outbound("gated_send"), T0).email["status"] == "cancelled"
    sent = lifecycle.settle(outbound("autonomous"), T0 + 2).email
    with pytest.raises(Refused, match="already approved or sent"):
        lifecycle.cancel(sent, T0 + 3)


def test_edit_schedule_only_while_scheduled() -> None:
    email = outbound("autonomous", _send_at=T0 + 100, gate_timing="gate_first")
    scheduled = lifecycle.settle(email, T0 + 2).email
    edited = lifecycle.edit_schedule(scheduled, {"subject": "New"}, T0 + 200)
    assert (edited["subject"], edited["_send_at"]) == ("New", T0 + 200)
    assert lifecycle.next_due(edited) == T0 + 200
    with pytest.raises(Refused):
        lifecycle.edit_schedule(email, {"subject": "x"}, None)


@pytest.mark.parametrize(
    ("current", "target", "upgrade"),
    [
        pytest.param("gated_send", "autonomous", True, id="to-autonomous"),
        pytest.param("gated_send", "monitored", True, id="to-monitored"),
        pytest.param("gated_send", "gated_all", False, id="to-gated_all"),
        pytest.param("monitored", "read_only", False, id="to-read_only"),
        pytest.param("gated_all", "gated_all", False, id="same"),
    ],
)
def test_mode_order(current: str, target: str, upgrade: bool) -> None:
    assert lifecycle.is_upgrade(current, target) is upgrade


def test_mark_read_only_touches_unread() -> None:
    assert lifecycle.mark_read({"status": "unread"})["status"] == "read"
    assert lifecycle.mark_read({"status": "pending_send_approval"})["status"] == (
        "pending_send_approval"
    )
