"""The oversight queue: ``GET /v1/oversight/pending`` and ``POST /v1/oversight/decide``.

Both need an ``oversight`` key (never also a ``send`` key: see `auth`). A decision made
with a key is ``approved_by`` that key's id; the sandbox's operator control decides as
the tenant's oversight email.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api.auth import Caller
from mm_assistants.sandbox.multimail_api.errors import bad_request, not_found
from mm_assistants.sandbox.multimail_api.lifecycle import PENDING_DECISION
from mm_assistants.sandbox.multimail_api.routing import Context, api_route, json_body, ok
from mm_assistants.sandbox.multimail_api.views import pending


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        api_route(ctx, "GET", "/v1/oversight/pending", list_pending, "oversight"),
        api_route(ctx, "POST", "/v1/oversight/decide", decide, "oversight"),
    ]


def held_emails(ctx: Context, tenant_id: str) -> list[Doc]:
    """The tenant's emails waiting for a decision, oldest first."""
    return [
        email
        for mailbox in ctx.store.children("mailboxes", tenant_id)
        for email in ctx.store.children("emails", mailbox["id"])
        if email["status"] in PENDING_DECISION
    ]


def tenant_email(ctx: Context, tenant_id: str, email_id: object) -> Doc:
    """Email ``email_id`` of any of the tenant's mailboxes; 404 otherwise."""
    email = ctx.store.get("emails", email_id) if isinstance(email_id, str) else None
    if email is None or email["_tenant"] != tenant_id:
        raise not_found("Email")
    return email


def read_decision(body: Doc) -> tuple[str, str | None]:
    """``action`` and ``reason`` of a decide body; 400 when malformed."""
    action = body.get("action")
    if action not in ("approve", "reject"):
        raise bad_request("action must be 'approve' or 'reject'")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise bad_request("reason must be a string")
    return action, reason


async def list_pending(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/oversight/pending``: ``{emails: [...]}`` with bodies, for review."""
    return ok({"emails": [pending(e) for e in held_emails(ctx, caller.tenant_id)]})


async def decide(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST /v1/oversight/decide {email_id, action, reason?}``: ``{status}`` among
    ``approved``, ``approved_and_sent``, ``rejected``; 409 when nothing is pending."""
    body = await json_body(request)
    action, reason = read_decision(body)
    email = tenant_email(ctx, caller.tenant_id, body.get("email_id"))
    status = ctx.postbox.decide(email, action, reason, caller.key_id, caller.key_id)
    return ok({"status": status, "id": email["id"]})
