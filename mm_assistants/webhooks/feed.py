"""Hand oversight decisions heard by webhook to an `ApprovalHub`, so waits wake at once."""

from __future__ import annotations

from typing import Any

from mm_assistants.approvals.hub import ApprovalHub
from mm_assistants.approvals.watch import PENDING_STATUSES
from mm_assistants.webhooks.events import OversightEvent, WebhookEvent


def feed_hub(hub: ApprovalHub, event: WebhookEvent) -> bool:
    """Publish an ``oversight.approved``/``oversight.rejected`` event to ``hub``.

    Returns True when the decision was handed over (it woke the waits that follow the email,
    and the hub remembers it for a wait that subscribes later); False for any other event,
    or a decision that names no email.

    Example::

        event = parse_event(body)
        feed_hub(hub, event)   # a wait_sync(..., hub=hub) on that email returns now
    """
    if not isinstance(event, OversightEvent) or event.decision == "pending":
        return False
    if event.email_id is None:
        return False
    hub.publish(event.email_id, decision_record(event))
    return True


def decision_record(event: OversightEvent) -> dict[str, Any]:
    """The email record the hub hands to a wait: the event's data, with a decided status.

    The status follows the event type, not the data: a payload may carry the status the
    email had when the event was queued (still ``pending_send_approval``), and a wait reads
    a pending status as "no decision yet" and would keep waiting.
    """
    record: dict[str, Any] = dict(event.data)
    record["email_id"] = event.email_id
    if event.decision == "rejected":
        record["status"] = "rejected"
    elif event.status is None or event.status in PENDING_STATUSES or event.status == "rejected":
        # an approved email whose payload shows no later status: what the decide call answers
        record["status"] = "approved_and_sent"
    else:
        record["status"] = event.status  # e.g. send_failed: approved but not delivered
    if event.reason is not None:
        record["reason"] = event.reason
    if event.decision == "approved" and event.decided_by is not None:
        record.setdefault("approved_by", event.decided_by)
    if event.thread_id is not None:
        record["thread_id"] = event.thread_id
    return record
