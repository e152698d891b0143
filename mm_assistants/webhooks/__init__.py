"""MultiMail webhooks in: verify a delivery, parse it into a typed event, wake approval
waits, and hand inbound email to a router (`mm_assistants.inbound`, which this package
never imports: it knows a router only by the `EventRouter` protocol).

The whole path in a few lines (FastAPI; `mm_assistants.webhooks.flask` for Flask)::

    hub = ApprovalHub()                      # also given to the Dispatcher: approval_hub=hub
    router = AsyncInboundRouter(openai, dispatcher, assistant_id="asst_1",
                                store="routes.db", background=True)  # mm_assistants.inbound
    receiver = AsyncWebhookReceiver(secret, hub=hub, router=router)
    app.include_router(webhook_router(receiver))   # from mm_assistants.webhooks.fastapi

The same steps by hand::

    delivery = verify_signature(body, request.headers, secrets, replay_guard=seen_store)
    event = parse_event(body, event_type=delivery.event)
    feed_hub(hub, event)          # oversight.approved / oversight.rejected wake waits
    router.route(event)           # message.received starts (or queues) a run

`verify_signature` says what a delivery must carry to be accepted and the reasons it is
refused; `parse_event` says which payload shapes it reads. Names that moved to
`mm_assistants.inbound` (the routers, the trust gate, the flood limits, the route store)
still import from here, with a `DeprecationWarning`.
"""

from mm_assistants._moved import moved_names
from mm_assistants.state import (
    MemorySeenStore,
    SeenDeliveries,
    SQLiteSeenStore,
)
from mm_assistants.webhooks.events import (
    EVENT_TYPES,
    MessageEvent,
    OversightEvent,
    WebhookEvent,
    WebhookPayloadError,
    parse_event,
)
from mm_assistants.webhooks.feed import feed_hub
from mm_assistants.webhooks.receiver import (
    AsyncEventRouter,
    AsyncWebhookReceiver,
    DecisionNotKept,
    DuplicateDelivery,
    EventRouter,
    HandledEvent,
    RouteReport,
    WebhookReceiver,
)
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
    "AsyncEventRouter",
    "AsyncWebhookReceiver",
    "DecisionNotKept",
    "DuplicateDelivery",
    "EventRouter",
    "HandledEvent",
    "MemorySeenStore",
    "MessageEvent",
    "OversightEvent",
    "ReplayGuard",
    "RouteReport",
    "SQLiteSeenStore",
    "SeenDeliveries",
    "VerifiedDelivery",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookReceiver",
    "WebhookVerificationError",
    "feed_hub",
    "parse_event",
    "verify_signature",
]

# Moved (issue 13): inbound routing to mm_assistants.inbound, the route store to
# mm_assistants.state. Served on demand, so importing this package loads neither inbound
# routing nor the drivers nor the dispatcher.
_MOVED = {
    **dict.fromkeys(
        (
            "AsyncInboundRouter",
            "InboundLimits",
            "InboundRouter",
            "RateLimit",
            "RouteResult",
            "TrustPolicy",
            "TrustVerdict",
            "notice",
        ),
        "mm_assistants.inbound",
    ),
    **dict.fromkeys(
        ("InboundMessage", "MemoryRouteStore", "RouteStore", "SQLiteRouteStore"),
        "mm_assistants.state",
    ),
}
__getattr__ = moved_names(__name__, _MOVED)
