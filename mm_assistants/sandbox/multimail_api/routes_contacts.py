"""The address book (``/v1/contacts``) and the suppression list (``/v1/suppression``).

An address lands on the suppression list through a bounce, a complaint or an unsubscribe;
in the sandbox through ``POST /sandbox/suppress`` or `MultiMailControl.suppress`. Sending
to a suppressed address is refused with 422 until it is removed.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api import inbox
from mm_assistants.sandbox.multimail_api.auth import Caller
from mm_assistants.sandbox.multimail_api.drafts import is_address
from mm_assistants.sandbox.multimail_api.errors import ApiError, bad_request, not_found
from mm_assistants.sandbox.multimail_api.formats import epoch_ms, iso, new_id
from mm_assistants.sandbox.multimail_api.routing import (
    Context,
    api_route,
    json_body,
    ok,
    path,
    record,
)
from mm_assistants.sandbox.multimail_api.store import Store


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        api_route(ctx, "POST", "/v1/contacts", add_contact, "send"),
        api_route(ctx, "GET", "/v1/contacts", search_contacts, "read"),
        api_route(ctx, "DELETE", "/v1/contacts/{contact_id}", delete_contact, "send"),
        api_route(ctx, "GET", "/v1/suppression", list_suppressions, "read"),
        api_route(ctx, "DELETE", "/v1/suppression/{email_address}", remove_suppression, "admin"),
    ]


def suppress(
    store: Store,
    tenant_id: str,
    address: str,
    reason: str,
    now: float,
    mailbox_id: str | None = None,
) -> Doc:
    """Put ``address`` on the tenant's suppression list (once; the first reason stays)."""
    address = address.strip().lower()
    with store.transaction():
        for entry in store.children("suppressions", tenant_id):
            if entry["email_address"] == address:
                return entry
        entry = {
            "id": new_id("sup_"),
            "email_address": address,
            "reason": reason,
            "mailbox_id": mailbox_id,
            "created_at": iso(now),
        }
        return store.put("suppressions", entry, parent=tenant_id)


async def add_contact(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST /v1/contacts {name, email, tags?}``: 201 with the contact."""
    body = await json_body(request)
    name, email, tags = body.get("name"), body.get("email"), body.get("tags") or []
    if not isinstance(name, str) or not name.strip() or not is_address(email):
        raise bad_request("Name and email required")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise bad_request("tags must be an array of strings")
    contact: Doc = {
        "id": new_id("ct_"),
        "name": name.strip(),
        "email": str(email).strip().lower(),
        "tags": tags,
        "created_at": epoch_ms(ctx.now()),
    }
    with ctx.store.transaction():
        ctx.store.put("contacts", contact, parent=caller.tenant_id)
        record(ctx, caller, "contact.created", "contact", contact["id"])
    return ok(contact, 201)


async def search_contacts(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/contacts?q=`` (the tools send ``query``): partial match on name or email."""
    needle = (request.query_params.get("q") or request.query_params.get("query") or "").lower()
    contacts = [
        c
        for c in ctx.store.children("contacts", caller.tenant_id)
        if needle in c["name"].lower() or needle in c["email"]
    ]
    return ok({"contacts": contacts})


async def delete_contact(ctx: Context, request: Request, caller: Caller) -> Response:
    """``DELETE /v1/contacts/{contact_id}``: ``{deleted: true}``; 404 when unknown."""
    contact_id = path(request, "contact_id")
    known = {c["id"] for c in ctx.store.children("contacts", caller.tenant_id)}
    if contact_id not in known:
        raise not_found("Contact")
    with ctx.store.transaction():
        ctx.store.delete("contacts", contact_id)
        record(ctx, caller, "contact.deleted", "contact", contact_id)
    return ok({"deleted": True})


async def list_suppressions(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/suppression?limit&cursor``: ``{suppressions, cursor}``, newest first."""
    entries = list(reversed(ctx.store.children("suppressions", caller.tenant_id)))
    size = inbox.limit(request.query_params, default=50)
    page, cursor = inbox.page_after(entries, request.query_params.get("cursor"), size)
    return ok({"suppressions": page, "cursor": cursor})


async def remove_suppression(ctx: Context, request: Request, caller: Caller) -> Response:
    """``DELETE /v1/suppression/{email_address}``: sending to it is allowed again."""
    address = unquote(path(request, "email_address")).strip().lower()
    for entry in ctx.store.children("suppressions", caller.tenant_id):
        if entry["email_address"] == address:
            with ctx.store.transaction():
                ctx.store.delete("suppressions", entry["id"])
                record(ctx, caller, "suppression.removed", "suppression", entry["id"])
            return ok({"status": "removed", "email_address": address})
    raise ApiError(404, "Address not found in suppression list")
