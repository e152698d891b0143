"""Scheduled sends on a gated mailbox, through the real dispatcher against the sandbox.

A ``schedule_first`` email leaves its scan as ``scheduled`` with nobody's approval yet: the
model must hear exactly that (when it goes out, and that a human decides at that time),
never "approved and sent", and the pending record must stay so that the real decision
reaches the conversation when it comes.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from mm_assistants.approvals import ApprovalOutcome, MemoryPendingStore, PendingRecord
from mm_assistants.dispatch import Dispatcher, ToolCall
from mm_assistants.sandbox import Sandbox
from tests.e2e.conftest import FAST_APPROVALS, SEND, wait_until_held

IN_AN_HOUR = 3600.0


def schedule(gate_timing: str, sandbox: Sandbox) -> ToolCall:
    send_at = datetime.fromtimestamp(sandbox.clock() + IN_AN_HOUR, tz=timezone.utc)
    arguments = {
        **SEND,
        "cc": None,
        "bcc": None,
        "attachments": None,
        "idempotency_key": None,
        "send_at": send_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "gate_timing": gate_timing,
        "mailbox_id": None,
    }
    return ToolCall(
        id=f"call_{gate_timing}", name="schedule_email", arguments=json.dumps(arguments)
    )


def test_a_schedule_first_send_is_reported_scheduled_not_approved_and_stays_pending(
    sandbox: Sandbox, dispatcher: Dispatcher, store: MemoryPendingStore
) -> None:
    result = dispatcher.dispatch(schedule("schedule_first", sandbox), approvals=FAST_APPROVALS)

    output = json.loads(result.output)
    assert result.approval is not None
    assert result.approval.decision == "scheduled"
    assert output["status"] == "scheduled"
    assert "approved" not in output["status"]
    assert output["send_at"]
    assert "approved_at" not in output
    assert "not been approved" in output["note"]
    # the human decides at send time: that decision must still reach the conversation
    [kept] = store.all()
    assert kept.email_id == output["id"]

    # ... and it does, once the time comes and a human approves
    sandbox.clock.advance(IN_AN_HOUR + 1)
    held = wait_until_held(sandbox)
    sandbox.multimail.decide(held["id"], "approve")
    delivered: list[tuple[PendingRecord, ApprovalOutcome]] = []
    deadline = time.monotonic() + 5
    while not delivered and time.monotonic() < deadline:
        from mm_assistants.approvals import resolve_pending

        resolve_pending(
            store,
            lambda e, m: dispatcher.fetch_email(e, m),
            lambda r, o: delivered.append((r, o)),
        )
    [(record, outcome)] = delivered
    assert (record.email_id, outcome.decision) == (output["id"], "approved")
    assert store.all() == []


def test_a_gate_first_send_approved_before_its_time_is_reported_approved_and_scheduled(
    sandbox: Sandbox, dispatcher: Dispatcher, store: MemoryPendingStore
) -> None:
    import threading

    def approve() -> None:
        sandbox.multimail.decide(wait_until_held(sandbox)["id"], "approve")

    reviewer = threading.Thread(target=approve, daemon=True)
    reviewer.start()
    result = dispatcher.dispatch(schedule("gate_first", sandbox), approvals=FAST_APPROVALS)
    reviewer.join(5)

    output = json.loads(result.output)
    assert result.approval is not None
    assert result.approval.decision == "scheduled"
    assert output["status"] == "scheduled"
    assert output["approved_at"]
    assert output["send_at"]
    assert "approved" in output["note"]
    assert "will be sent" in output["note"]
    assert store.all() == []  # the decision travelled with this output
