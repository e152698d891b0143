"""Hand oversight decisions heard by webhook to an `ApprovalHub`, so waits wake at once."""

from __future__ import annotations

from typing import Any

from mm_assistants.approvals.hub import ApprovalHub
from mm_assistants.approvals.watch import decided_record
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

    The status follows the event type, unless the payload itself still shows the email
    held: such an event contradicts itself, the record stays held (the hub hands it to no
    wait) and the wait reads MultiMail's record instead. An approval keeps a later status
    the data shows (``scheduled``, ``send_failed``) and carries ``approved_at`` when the
    payload or the event's time gives one. See `mm_assistants.approvals.watch.decided_record`,
    the one rule the hub's ``publish_event`` follows too.
    """
    event_type = "oversight.rejected" if event.decision == "rejected" else "oversight.approved"
    data: dict[str, Any] = dict(event.data)
    if event.status is not None:
        data["status"] = event.status  # the parsed status, wherever the payload put it
    record = decided_record(event_type, data, at=event.timestamp) or data
    record["email_id"] = event.email_id
    if event.reason is not None:
        record["reason"] = event.reason
    if event.decision == "approved" and event.decided_by is not None:
        record.setdefault("approved_by", event.decided_by)
    if event.thread_id is not None:
        record["thread_id"] = event.thread_id
    return record
