"""Oversight events wake real approval waits through the hub, at once and without polling."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from typing import Any

import pytest

from mm_assistants.approvals import ApprovalHub, ApprovalPolicy, wait_async, wait_sync
from mm_assistants.sandbox.multimail_api.events import event_data
from mm_assistants.sandbox.multimail_api.signing import delivery_headers, encode_body, sign
from mm_assistants.webhooks import (
    OversightEvent,
    ReplayGuard,
    WebhookVerificationError,
    feed_hub,
    parse_event,
    verify_signature,
)
from mm_assistants.webhooks.feed import decision_record

SECRET = "whsec_feed_secret_value"
POLICY = ApprovalPolicy(first_delay=1.0)


def oversight(event: str, **data: Any) -> OversightEvent:
    parsed = parse_event({"id": "evt_1", "event": event, "data": {"email_id": "em_1", **data}})
    assert isinstance(parsed, OversightEvent)
    return parsed


def never_decided(email_id: str, mailbox_id: str) -> dict[str, Any]:
    return {"status": "pending_send_approval"}


def test_an_approval_wakes_a_sync_wait_at_once() -> None:
    hub = ApprovalHub()
    event = oversight("oversight.approved", status="approved", decided_by="op@example.com")
    threading.Timer(0.05, feed_hub, (hub, event)).start()
    started = time.monotonic()
    outcome = wait_sync(
        never_decided, "em_1", "mbx_1", policy=POLICY, deadline=time.time() + 30, hub=hub
    )
    assert time.monotonic() - started < 5
    assert (outcome.decision, outcome.woken_by, outcome.status_checks) == ("approved", "hub", 0)
    assert outcome.approved_by == "op@example.com"


def test_a_rejection_wakes_an_async_wait_from_another_thread() -> None:
    hub = ApprovalHub()

    async def main() -> Any:
        async def afetch(email_id: str, mailbox_id: str) -> dict[str, Any]:
            return never_decided(email_id, mailbox_id)

        event = oversight("oversight.rejected", reason="tone", thread_id="th_1")
        threading.Timer(0.05, feed_hub, (hub, event)).start()
        return await wait_async(
            afetch, "em_1", "m", policy=POLICY, deadline=time.time() + 30, hub=hub
        )

    outcome = asyncio.run(main())
    assert (outcome.decision, outcome.reason, outcome.woken_by) == ("rejected", "tone", "hub")
    assert outcome.thread_id == "th_1"


def test_a_decision_heard_before_the_wait_is_remembered() -> None:
    hub = ApprovalHub()
    assert feed_hub(hub, oversight("oversight.rejected", reason="late"))
    outcome = wait_sync(
        never_decided, "em_1", "m", policy=POLICY, deadline=time.time() + 5, hub=hub
    )
    assert (outcome.decision, outcome.reason, outcome.woken_by) == ("rejected", "late", "hub")


@pytest.mark.parametrize(
    ("event", "data", "status"),
    [
        pytest.param("oversight.approved", {}, "approved_and_sent", id="approved-no-status"),
        # an event whose own data still shows the email held decides nothing: the record
        # stays held, the hub hands it to no wait, and the wait reads MultiMail's record
        pytest.param(
            "oversight.approved",
            {"status": "pending_send_approval"},
            "pending_send_approval",
            id="approved-stale-pending",
        ),
        pytest.param("oversight.approved", {"status": "send_failed"}, "send_failed", id="failed"),
        # an "approved" status proves nothing by itself; the event type is the evidence
        pytest.param(
            "oversight.approved", {"status": "approved"}, "approved_and_sent", id="approved"
        ),
        pytest.param("oversight.approved", {"status": "bounced"}, "approved_and_sent", id="new"),
        pytest.param("oversight.approved", {"status": "scheduled"}, "scheduled", id="gate-first"),
        pytest.param("oversight.rejected", {}, "rejected", id="rejected"),
        pytest.param(
            "oversight.rejected",
            {"status": "pending_send_approval"},
            "pending_send_approval",
            id="rejected-stale-pending",
        ),
    ],
)
def test_the_status_handed_over_follows_the_event_type(
    event: str, data: dict[str, Any], status: str
) -> None:
    assert decision_record(oversight(event, **data))["status"] == status


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"event": "oversight.pending", "data": {"email_id": "em_1"}}, id="pending"),
        pytest.param({"event": "message.sent", "data": {"email_id": "em_1"}}, id="message"),
        pytest.param({"event": "oversight.approved", "data": {}}, id="no-email"),
        pytest.param({"event": "something.else", "data": {"email_id": "em_1"}}, id="unknown"),
    ],
)
def test_other_events_are_not_fed(body: dict[str, Any]) -> None:
    hub = ApprovalHub()
    with hub.subscribe("em_1") as subscription:
        assert not feed_hub(hub, parse_event(body))
        assert subscription.decision is None


def test_a_sandbox_delivery_goes_from_bytes_to_a_woken_wait() -> None:
    """Signed and encoded by the sandbox's own code, received by the library's."""
    email = {
        "id": "em_5",
        "mailbox_id": "mbx_1",
        "thread_id": "th_5",
        "direction": "outbound",
        "status": "rejected",
        "from": "agent@example.com",
        "to": ["bob@example.com"],
        "subject": "Quote",
    }
    data = event_data(email, decided_by="op@example.com", reason="wrong price")
    now = time.time()
    body = encode_body("evt_5", "oversight.rejected", now, data)
    headers = delivery_headers("evt_5", "oversight.rejected", sign(body, SECRET), now)
    independent = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-MultiMail-Signature"] == independent

    hub, guard = ApprovalHub(), ReplayGuard()
    subscription = hub.subscribe("em_5")
    delivery = verify_signature(body, headers, ["whsec_new", SECRET], replay_guard=guard)
    event = parse_event(body, event_type=delivery.event)
    assert (delivery.secret_index, delivery.delivery_id, event.id) == (1, "evt_5", "evt_5")
    assert feed_hub(hub, event)
    decided = subscription.wait(0)
    assert decided is not None
    assert (decided["status"], decided["reason"], decided["email_id"]) == (
        "rejected",
        "wrong price",
        "em_5",
    )
    with pytest.raises(WebhookVerificationError, match="replayed"):
        verify_signature(body, headers, SECRET, replay_guard=guard)
    assert json.loads(body)["data"]["decided_by"] == "op@example.com"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="no-status"),
        pytest.param({"status": "scheduled", "send_at": "2026-12-01T09:00:00Z"}, id="gate-first"),
    ],
)
def test_an_approved_event_hands_over_a_decisive_record_with_its_evidence(
    data: dict[str, Any],
) -> None:
    from mm_assistants.approvals.watch import classify, outcome_from_email

    event = parse_event(
        {
            "id": "evt_1",
            "event": "oversight.approved",
            "timestamp": "2026-11-28T10:00:00Z",
            "data": {"email_id": "em_1", **data},
        }
    )
    assert isinstance(event, OversightEvent)
    record = decision_record(event)
    assert classify(record) in ("approved", "scheduled")
    assert record["approved_at"] == "2026-11-28T10:00:00Z"  # the event's time, not a guess
    assert "approved_at" not in decision_record(oversight("oversight.approved", **data))
    outcome = outcome_from_email("em_1", record, waited=0, status_checks=0, woken_by="hub")
    assert outcome.settled  # an approval is the human's last word
