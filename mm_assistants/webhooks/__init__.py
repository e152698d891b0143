"""MultiMail webhooks in: verify a delivery, parse it into a typed event, wake approval
waits, and route inbound email to the OpenAI conversation of its thread.

The whole path in a few lines (FastAPI; `mm_assistants.webhooks.flask` for Flask)::

    hub = ApprovalHub()                      # also given to the Dispatcher: approval_hub=hub
    router = AsyncInboundRouter(openai, dispatcher, assistant_id="asst_1",
                                store="routes.db", background=True)
    receiver = AsyncWebhookReceiver(secret, hub=hub, router=router)
    app.include_router(webhook_router(receiver))   # from mm_assistants.webhooks.fastapi

The same steps by hand::

    delivery = verify_signature(body, request.headers, secrets, replay_guard=seen_store)
    event = parse_event(body, event_type=delivery.event)
    feed_hub(hub, event)          # oversight.approved / oversight.rejected wake waits
    router.route(event)           # message.received starts (or queues) a run

`verify_signature` checks ``X-MultiMail-Signature: sha256=<hex>`` (HMAC-SHA256 of the raw
body) against one or more secrets, a size cap, that the signed body's ``timestamp`` is
recent (one hour either way by default; the unsigned ``X-MultiMail-Timestamp`` header may
not contradict it), and with a `SeenDeliveries` store (`SQLiteSeenStore`, the receiver's
default, or `MemorySeenStore`) that the delivery id, event id and body were not accepted
before; a refusal is a `WebhookVerificationError` whose ``reason`` is
``missing_signature``, ``malformed_signature``, ``bad_signature``, ``too_large``,
``malformed_timestamp``, ``missing_timestamp``, ``mismatched_timestamp``,
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
from mm_assistants.webhooks.flood import InboundLimits, RateLimit
from mm_assistants.webhooks.receiver import (
    AsyncWebhookReceiver,
    DuplicateDelivery,
    HandledEvent,
    WebhookReceiver,
)
from mm_assistants.webhooks.route_store import (
    InboundMessage,
    MemoryRouteStore,
    RouteStore,
    SQLiteRouteStore,
)
from mm_assistants.webhooks.router import InboundRouter
from mm_assistants.webhooks.router_async import AsyncInboundRouter
from mm_assistants.webhooks.routing import RouteResult, notice
from mm_assistants.webhooks.seen import (
    MemorySeenStore,
    SeenDeliveries,
    SQLiteSeenStore,
)
from mm_assistants.webhooks.trust import TrustPolicy, TrustVerdict
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
    "AsyncInboundRouter",
    "AsyncWebhookReceiver",
    "DuplicateDelivery",
    "HandledEvent",
    "InboundLimits",
    "InboundMessage",
    "InboundRouter",
    "MemoryRouteStore",
    "MemorySeenStore",
    "MessageEvent",
    "OversightEvent",
    "RateLimit",
    "ReplayGuard",
    "RouteResult",
    "RouteStore",
    "SQLiteRouteStore",
    "SQLiteSeenStore",
    "SeenDeliveries",
    "TrustPolicy",
    "TrustVerdict",
    "VerifiedDelivery",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookReceiver",
    "WebhookVerificationError",
    "feed_hub",
    "notice",
    "parse_event",
    "verify_signature",
]
