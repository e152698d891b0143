"""Webhook events: the names MultiMail knows, their data, and the sink that receives them.

The sandbox calls ``sink.emit(tenant_id=..., event=..., data=..., subscriptions=[...])``
once per event, after the change that caused it is stored, with the tenant's webhook
subscriptions that want it (event listed, and no mailbox filter or the email's mailbox).
Each subscription is ``{"id", "url", "events", "signing_secret", "mailbox_id"}``. A sink
with a ``deliveries(tenant_id, *, status, limit)`` method also answers
``GET /v1/webhook-deliveries``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

WEBHOOK_EVENTS = (
    "message.received",
    "message.sent",
    "message.delivered",
    "message.bounced",
    "message.complained",
    "oversight.pending",
    "oversight.approved",
    "oversight.rejected",
)


class EventSink(Protocol):
    """Where the sandbox's webhook events go (a recorder, or signed HTTP deliveries)."""

    def emit(
        self,
        *,
        tenant_id: str,
        event: str,
        data: dict[str, Any],
        subscriptions: list[dict[str, Any]],
    ) -> None:
        """Take one event; must not raise for delivery problems (deliver later instead)."""


def event_data(email: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """An event's ``data`` for ``email``: ids, status, addresses, subject, plus ``extra``
    (``decided_by`` and ``reason`` for decisions)."""
    return {
        "email_id": email["id"],
        "message_id": email["id"],
        "mailbox_id": email["mailbox_id"],
        "thread_id": email["thread_id"],
        "direction": email["direction"],
        "status": email["status"],
        "from": email["from"],
        "to": list(email["to"]),
        "subject": email["subject"],
        **extra,
    }


def matching(
    subscriptions: Sequence[Mapping[str, Any]], event: str, mailbox_id: str
) -> list[dict[str, Any]]:
    """The subscriptions that want ``event`` from ``mailbox_id``, as the sink gets them."""
    return [
        {
            "id": sub["id"],
            "url": sub["url"],
            "events": list(sub["events"]),
            "signing_secret": sub["signing_secret"],
            "mailbox_id": sub.get("mailbox_id"),
        }
        for sub in subscriptions
        if event in sub["events"] and sub.get("mailbox_id") in (None, mailbox_id)
    ]
