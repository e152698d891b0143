"""The operations of MultiMail's OpenAPI document that the sandbox leaves out, and why.

Each answers 404 with ``{"error": "The sandbox does not emulate <METHOD> <path>: <why>"}``
(never a 5xx, and never Starlette's bare 405), so a client or a schema-driven fuzzer
learns that the gap is deliberate. They are payment providers' and mail providers' own
callbacks, pages a person opens in a browser, MultiMail's staff tools and features that
need DNS or a real mail path. tests/sandbox/multimail_api/test_openapi_operations.py holds
every operation of the document to either a route of the sandbox or a row here.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.multimail_api.errors import ApiError
from mm_assistants.sandbox.multimail_api.routing import Context, OpenHandler, open_route

_SESSIONS = "operator dashboard sessions are a person's browser login; use the /sandbox controls"
_POSTMARK = "Postmark's own callbacks; deliver inbound mail with POST /sandbox/inbound"
_STRIPE = "Stripe's own callback; pay on the sandbox's checkout page instead"
_COINBASE = "Coinbase Commerce (crypto) payments are not emulated; use POST /v1/billing/checkout"
_PRICING = "the pricing page's checkout for new accounts; sign up with POST /v1/account"
_CONFIRM = "a browser redirect to multimail.dev; POST /v1/confirm takes the code"
_DOMAINS = "custom domains need DNS; sandbox mailboxes live on <slug>.multimail.dev"
_UNSUBSCRIBE = "recipients' unsubscribe pages; the sandbox delivers no real mail"
_APPROVE = "the hosted approval page; decide with POST /v1/oversight/decide or /review"

#: (method, OpenAPI path) -> why the sandbox leaves it out.
ABSENT: Mapping[tuple[str, str], str] = {
    ("POST", "/v1/operator/start-session"): _SESSIONS,
    ("POST", "/v1/operator/verify-session"): _SESSIONS,
    ("POST", "/v1/operator/end-session"): _SESSIONS,
    ("GET", "/v1/operator/session"): _SESSIONS,
    ("POST", "/v1/support"): "support messages go to MultiMail's staff",
    ("POST", "/v1/webhooks/postmark-inbound"): _POSTMARK,
    ("POST", "/v1/webhooks/postmark"): _POSTMARK,
    ("POST", "/v1/billing/crypto-checkout"): _COINBASE,
    ("POST", "/v1/billing/coinbase-webhook"): _COINBASE,
    ("POST", "/v1/billing/stripe-webhook"): _STRIPE,
    ("POST", "/v1/billing/pricing-checkout"): _PRICING,
    ("GET", "/v1/billing/session-key"): _PRICING,
    ("POST", "/v1/funnel/event"): "a marketing analytics beacon",
    ("GET", "/v1/confirm"): _CONFIRM,
    ("GET", "/v1/confirm/{code}"): _CONFIRM,
    ("POST", "/v1/domains"): _DOMAINS,
    ("GET", "/v1/domains/{id}"): _DOMAINS,
    ("DELETE", "/v1/domains/{id}"): _DOMAINS,
    ("POST", "/v1/domains/{id}/verify"): _DOMAINS,
    ("GET", "/.well-known/reputation/{hash}"): "MultiMail's cross-tenant reputation service",
    ("GET", "/v1/export"): "the bulk export is not emulated yet; read each list instead",
    ("GET", "/v1/unsubscribe/{token}"): _UNSUBSCRIBE,
    ("POST", "/v1/unsubscribe/{token}"): _UNSUBSCRIBE,
    ("GET", "/v1/approve/{token}"): _APPROVE,
    ("POST", "/v1/approve/{token}"): _APPROVE,
    ("POST", "/v1/admin/recover-key"): "MultiMail staff's key recovery",
}


def routes(ctx: Context) -> list[Route]:
    """One route per `ABSENT` operation, answering its 404."""
    return [
        open_route(ctx, method, route_path, _absent(method, route_path, reason))
        for (method, route_path), reason in ABSENT.items()
    ]


def _absent(method: str, route_path: str, reason: str) -> OpenHandler:
    async def handler(ctx: Context, request: Request) -> Response:
        raise ApiError(404, f"The sandbox does not emulate {method} {route_path}: {reason}")

    return handler
