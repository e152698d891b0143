"""Inbound email to the model: each ``message.received`` event becomes a turn of the OpenAI
conversation that belongs to its MultiMail thread.

`InboundRouter` (blocking) and `AsyncInboundRouter` take the events a webhook receiver
accepted (`mm_assistants.webhooks`) and, in order: screen them (`routing.screen`), judge
them (`TrustPolicy`, the trust gate: an email without passing verdicts is tagged for a
person and starts nothing), bound them (`InboundLimits`, the flood limits), admit them to
the route store (a delivery seen before is dropped, a message for a busy thread queued),
and drive a run with the drivers (`mm_assistants.drivers`)::

    router = AsyncInboundRouter(openai, dispatcher, assistant_id="asst_1",
                                store="routes.db", background=True)
    receiver = AsyncWebhookReceiver(secret, hub=hub, router=router)

This package sits above the drivers (inbound -> drivers -> dispatch); the webhook receiver
below it knows a router only by the `mm_assistants.webhooks.receiver.EventRouter` protocol.
"""

from mm_assistants.inbound.fleet import ResumeResult
from mm_assistants.inbound.flood import InboundLimits, RateLimit
from mm_assistants.inbound.router import InboundRouter
from mm_assistants.inbound.router_async import AsyncInboundRouter
from mm_assistants.inbound.routing import RouteResult, notice
from mm_assistants.inbound.trust import TrustPolicy, TrustVerdict
from mm_assistants.inbound.work import FleetWork, SweepPlan, WorkAdmission
from mm_assistants.state import (
    InboundMessage,
    MemoryRouteStore,
    RouteStore,
    SQLiteRouteStore,
)

__all__ = [
    "AsyncInboundRouter",
    "FleetWork",
    "InboundLimits",
    "InboundMessage",
    "InboundRouter",
    "MemoryRouteStore",
    "RateLimit",
    "ResumeResult",
    "RouteResult",
    "RouteStore",
    "SQLiteRouteStore",
    "SweepPlan",
    "TrustPolicy",
    "TrustVerdict",
    "WorkAdmission",
    "notice",
]
