"""MultiMail webhooks: verify a delivery, parse it into a typed event, wake approval waits.

A receiver does three things with each POST, in this order::

    delivery = verify_signature(body, request.headers, secrets, replay_guard=guard)
    event = parse_event(body, event_type=delivery.event)
    feed_hub(hub, event)          # oversight.approved / oversight.rejected wake waits

`verify_signature` checks ``X-MultiMail-Signature: sha256=<hex>`` (HMAC-SHA256 of the raw
body) against one or more secrets, a size cap, and with ``X-MultiMail-Timestamp`` /
``X-MultiMail-Delivery`` a replay window and a `ReplayGuard`; a refusal is a
`WebhookVerificationError` whose ``reason`` is ``missing_signature``,
``malformed_signature``, ``bad_signature``, ``too_large``, ``malformed_timestamp``,
``stale_timestamp`` or ``replayed``.

Accepted payload shapes (MultiMail has documented both; every field is optional):

- envelope: ``{"id": "evt_…", "event": "message.received", "timestamp": "2026-03-01T12:00:00Z",
  "data": {"email_id", "message_id", "mailbox_id", "thread_id", "status", "from", "to",
  "subject", "spam_verdict", "spam_score", "decided_by", "reason", ...}}``
- flat: ``{"event_type": "message.received", "mailbox": "mbx_…", "message_id", "thread_id",
  "timestamp", ...}``

The type is read from ``event``, ``event_type`` or ``type`` (else the ``event_type``
argument, e.g. the ``X-MultiMail-Event`` header). Fields are looked up in ``data``, then an
``email``/``message`` object inside it, then the top level. The email id is ``email_id``,
else ``id`` inside ``data``, else ``message_id``; the mailbox is ``mailbox_id`` or
``mailbox`` (a string, or an object's ``id``); ``timestamp`` (or ``created_at``) may be ISO
8601 or unix seconds/milliseconds. ``dkim``/``spf``/``dmarc`` are read directly or from an
``authentication_results`` object. The eight known types give a `MessageEvent` or an
`OversightEvent`; any other type a plain `WebhookEvent` (its ``data`` and ``raw`` intact);
only a body that is not a JSON object raises (`WebhookPayloadError`).
"""

from mm_assistants.webhooks.events import (
    EVENT_TYPES,
    MessageEvent,
    OversightEvent,
    WebhookEvent,
    WebhookPayloadError,
    parse_event,
)
from mm_assistants.webhooks.feed import feed_hub
from mm_assistants.webhooks.verify import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ReplayGuard,
    VerifiedDelivery,
    WebhookVerificationError,
    verify_signature,
)

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "MessageEvent",
    "OversightEvent",
    "ReplayGuard",
    "VerifiedDelivery",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookVerificationError",
    "feed_hub",
    "parse_event",
    "verify_signature",
]
