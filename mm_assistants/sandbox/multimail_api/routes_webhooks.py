"""Webhook subscriptions (``/v1/webhooks``) and their delivery history.

A subscription names its events (the 8 of `events.WEBHOOK_EVENTS`) and optionally one
mailbox. Its ``signing_secret`` is answered on creation and by the detail route (as
MultiMail's document says), never in the list. URLs must be ``https``; the sandbox also
takes ``http`` to a loopback host so local receivers work without certificates.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api import codes, inbox
from mm_assistants.sandbox.multimail_api.auth import Caller
from mm_assistants.sandbox.multimail_api.errors import bad_request, not_found
from mm_assistants.sandbox.multimail_api.events import WEBHOOK_EVENTS
from mm_assistants.sandbox.multimail_api.formats import iso, new_id, new_signing_secret
from mm_assistants.sandbox.multimail_api.routing import (
    Context,
    api_route,
    json_body,
    load_mailbox,
    ok,
    path,
    record,
)

_LIST_FIELDS = ("id", "url", "events", "mailbox_id", "created_at")
_DELIVERY_STATUSES = ("pending", "delivered", "failed")


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        api_route(ctx, "POST", "/v1/webhooks", create_webhook, "admin"),
        api_route(ctx, "GET", "/v1/webhooks", list_webhooks, "admin"),
        api_route(ctx, "GET", "/v1/webhooks/{webhook_id}", get_webhook, "admin"),
        api_route(ctx, "DELETE", "/v1/webhooks/{webhook_id}", delete_webhook, "admin"),
        api_route(ctx, "GET", "/v1/webhook-deliveries", list_deliveries, "admin"),
    ]


def check_url(url: object) -> str:
    """A subscription URL: ``https``, or ``http`` to loopback (400 otherwise)."""
    if not isinstance(url, str):
        raise bad_request("url is required")
    parts = urlsplit(url.strip())
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise bad_request("url must be an absolute https URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise bad_request("url must use https (plain http is allowed only to loopback hosts)")
    return url.strip()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_events(events: object) -> list[str]:
    """Known event names, at least one (400 otherwise)."""
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise bad_request("events must be a non-empty array of event names")
    unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
    if unknown:
        raise bad_request(f"Unknown events {unknown}; known: {', '.join(WEBHOOK_EVENTS)}")
    return list(dict.fromkeys(events))


def _subscription(ctx: Context, caller: Caller, request: Request) -> Doc:
    sub = ctx.store.get("webhooks", path(request, "webhook_id"))
    if sub is None or sub["_tenant"] != caller.tenant_id:
        raise not_found("Webhook subscription")
    return sub


async def create_webhook(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST /v1/webhooks {url, events, mailbox_id?, approval_code?}``: 201 with the
    ``signing_secret``."""
    body = await json_body(request)
    url, events = check_url(body.get("url")), check_events(body.get("events"))
    mailbox_id = body.get("mailbox_id")
    if mailbox_id is not None:
        if not isinstance(mailbox_id, str):
            raise bad_request("mailbox_id must be a string")
        load_mailbox(ctx, caller, mailbox_id)
    gate = codes.approval_gate(ctx, caller, "create_webhook", body.get("approval_code"), url=url)
    if gate is not None:
        return gate
    sub: dict[str, Any] = {
        "id": new_id("wh_"),
        "url": url,
        "events": events,
        "mailbox_id": mailbox_id,
        "signing_secret": new_signing_secret(),
        "created_at": iso(ctx.now()),
        "_tenant": caller.tenant_id,
    }
    with ctx.store.transaction():
        ctx.store.put("webhooks", sub, parent=caller.tenant_id)
        record(ctx, caller, "webhook.created", "webhook", sub["id"], {"url": url, "events": events})
    return ok({k: v for k, v in sub.items() if not k.startswith("_")}, 201)


async def list_webhooks(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/webhooks``: ``{subscriptions}`` without secrets."""
    subs = ctx.store.children("webhooks", caller.tenant_id)
    return ok({"subscriptions": [{k: s.get(k) for k in _LIST_FIELDS} for s in subs]})


async def get_webhook(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/webhooks/{id}``: the subscription with its secret."""
    sub = _subscription(ctx, caller, request)
    return ok({k: v for k, v in sub.items() if not k.startswith("_")})


async def delete_webhook(ctx: Context, request: Request, caller: Caller) -> Response:
    """``DELETE /v1/webhooks/{id}``: ``{status: deleted}``."""
    sub = _subscription(ctx, caller, request)
    with ctx.store.transaction():
        ctx.store.delete("webhooks", sub["id"])
        record(ctx, caller, "webhook.deleted", "webhook", sub["id"])
    return ok({"status": "deleted"})


async def list_deliveries(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/webhook-deliveries?status&limit``: from the event sink when it keeps a
    history (``deliveries(tenant_id, *, status, limit)``), else empty."""
    status = request.query_params.get("status") or None
    if status is not None and status not in _DELIVERY_STATUSES:
        raise bad_request("status must be pending, delivered or failed")
    size = inbox.limit(request.query_params, default=50)
    history = getattr(ctx.postbox.sink, "deliveries", None)
    deliveries = [] if history is None else history(caller.tenant_id, status=status, limit=size)
    return ok({"deliveries": list(deliveries), "cursor": None})
