"""The account: ``/v1/account`` (get, update, delete), confirmation, usage, audit log and
API keys.

Keys are shown whole only in the answer that creates them; lists show the prefix. A key
may not hold both ``send`` and ``oversight`` (400), whether it is created or changed, with
an operator's code or without. The operator's codes for keys are bound to what they
approve (`codes`): a new key's name and scopes, a changed key's id and new scopes.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.docstore import public
from mm_assistants.sandbox.multimail_api import codes, inbox
from mm_assistants.sandbox.multimail_api.auth import Caller, check_scopes, issue_key
from mm_assistants.sandbox.multimail_api.drafts import is_address
from mm_assistants.sandbox.multimail_api.errors import bad_request, not_found
from mm_assistants.sandbox.multimail_api.formats import epoch_ms, month_start
from mm_assistants.sandbox.multimail_api.ledger import USAGE_EVENTS, totals, usage_days
from mm_assistants.sandbox.multimail_api.routing import (
    Context,
    api_route,
    json_body,
    ok,
    path,
    record,
)

_ACCOUNT_FIELDS = {"name": 200, "oversight_email": 320, "physical_address": 2000}


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        api_route(ctx, "GET", "/v1/account", get_account, "read"),
        api_route(ctx, "PATCH", "/v1/account", update_account, "admin"),
        api_route(ctx, "DELETE", "/v1/account", delete_account, "admin"),
        api_route(ctx, "GET", "/v1/usage", get_usage, "read"),
        api_route(ctx, "GET", "/v1/audit-log", get_audit_log, "admin"),
        api_route(ctx, "GET", "/v1/domains", list_domains, "admin"),
        api_route(ctx, "GET", "/v1/api-keys", list_keys, "admin"),
        api_route(ctx, "POST", "/v1/api-keys", create_key, "admin"),
        api_route(ctx, "PATCH", "/v1/api-keys/{key_id}", update_key, "admin"),
        api_route(ctx, "DELETE", "/v1/api-keys/{key_id}", revoke_key, "admin"),
    ]


async def get_account(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/account``: plan, quota, this month's sends, storage, sending state."""
    tenant = ctx.store.get("tenants", caller.tenant_id) or {}
    now = ctx.now()
    sent = totals(usage_days(ctx.store, caller.tenant_id, month_start(now), now))["emails_sent"]
    shown = {key: value for key, value in public(tenant).items() if key != "created_at"}
    return ok({**shown, "emails_sent_this_month": sent})


async def update_account(ctx: Context, request: Request, caller: Caller) -> Response:
    """``PATCH /v1/account {name?, oversight_email?, physical_address?}``."""
    body = await json_body(request)
    changes = {}
    for name, limit in _ACCOUNT_FIELDS.items():
        if name in body:
            value = body[name]
            if not isinstance(value, str) or len(value) > limit:
                raise bad_request(f"{name} must be a string of at most {limit} characters")
            if name == "oversight_email" and not is_address(value):
                raise bad_request("oversight_email must be an email address")
            changes[name] = value
    if not changes:
        raise bad_request("Nothing to update: give name, oversight_email or physical_address")
    with ctx.store.transaction():
        tenant = ctx.store.get("tenants", caller.tenant_id) or {}
        ctx.store.put("tenants", {**tenant, **changes})
        record(
            ctx, caller, "account.updated", "account", caller.tenant_id, {"fields": sorted(changes)}
        )
    return ok({"status": "updated"})


async def delete_account(ctx: Context, request: Request, caller: Caller) -> Response:
    """``DELETE /v1/account``: deletes the tenant and everything it owns; its keys stop
    working at once."""
    with ctx.store.transaction():
        for mailbox in ctx.store.children("mailboxes", caller.tenant_id):
            for email in ctx.store.children("emails", mailbox["id"]):
                ctx.store.delete("emails", email["id"])  # and its blobs
        ctx.store.delete("tenants", caller.tenant_id)  # and all it is the parent of
    return ok({"status": "deleted"})


async def get_usage(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/usage?period=summary|daily`` (or ``breakdown=daily``), ``from``/``to`` in
    epoch ms (default: this month)."""
    query = request.query_params
    now = ctx.now()
    try:
        start = int(query["from"]) / 1000 if query.get("from") else month_start(now)
        end = int(query["to"]) / 1000 if query.get("to") else now
    except ValueError as exc:
        raise bad_request("from and to must be epoch milliseconds") from exc
    period = query.get("period") or ("daily" if query.get("breakdown") == "daily" else "summary")
    if period not in ("summary", "daily"):
        raise bad_request("period must be 'summary' or 'daily'")
    days = usage_days(ctx.store, caller.tenant_id, start, end)
    span = {"from": epoch_ms(start), "to": epoch_ms(end)}
    if period == "summary":
        return ok({**span, **totals(days)})
    data = [
        {"date": d["date"], "event_type": event, "count": int(d[event])}
        for d in days
        for event in USAGE_EVENTS
        if d.get(event)
    ]
    return ok({**span, "breakdown": "daily", "data": data})


async def get_audit_log(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/audit-log?limit&cursor``: ``{entries, cursor}``, newest first."""
    entries = list(reversed(ctx.store.children("audit", caller.tenant_id)))
    size = inbox.limit(request.query_params, default=50)
    page, cursor = inbox.page_after(entries, request.query_params.get("cursor"), size)
    return ok({"entries": page, "cursor": cursor})


async def list_domains(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/domains``: ``{domains: []}``; sandbox mailboxes live on the tenant's
    ``<slug>.multimail.dev`` (adding a custom domain is one of `routes_absent`)."""
    return ok({"domains": []})


async def list_keys(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/api-keys``: prefixes, scopes and dates, never a whole key."""
    return ok({"api_keys": [public(k) for k in ctx.store.children("keys", caller.tenant_id)]})


async def create_key(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST /v1/api-keys {name, scopes, approval_code?}``: 201 with ``api_key`` (once)."""
    body = await json_body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name is required")
    scopes = check_scopes(body.get("scopes", ["read"]))
    gate = codes.approval_gate(
        ctx, caller, "create_api_key", body.get("approval_code"), name=name, scopes=scopes
    )
    if gate is not None:
        return gate
    with ctx.store.transaction():
        doc, raw = issue_key(ctx.store, caller.tenant_id, name, scopes, ctx.now())
        record(ctx, caller, "api_key.created", "api_key", doc["id"], {"scopes": list(scopes)})
    answer = {"id": doc["id"], "api_key": raw, "prefix": doc["prefix"], "name": name}
    return ok({**answer, "scopes": list(scopes)}, 201)


async def update_key(ctx: Context, request: Request, caller: Caller) -> Response:
    """``PATCH /v1/api-keys/{key_id} {name?, scopes?, approval_code?}``: ``{status:
    updated}``. ``send`` with ``oversight`` is refused (400) as on creation, and adding
    ``oversight`` to a key needs the operator's code (MultiMail 0.5.6: otherwise a key
    could grant itself approval rights one scope at a time); so does adding ``admin``,
    which holds every scope, even to a key that already approves (an ``oversight`` key
    made ``admin`` could then also send). The code approves this key and these scopes."""
    key = ctx.store.get("keys", path(request, "key_id"))
    if key is None or key["_tenant"] != caller.tenant_id or not key["is_active"]:
        raise not_found("API key")
    body = await json_body(request)
    changes: dict[str, object] = {}
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str) or not name.strip():
            raise bad_request("name must be a non-empty string")
        changes["name"] = name
    if "scopes" in body:
        scopes = check_scopes(body["scopes"])
        if needs_operator(key["scopes"], scopes):
            code = body.get("approval_code")
            subject = {"key_id": key["id"], "scopes": scopes}
            gate = codes.approval_gate(ctx, caller, "add_oversight_scope", code, **subject)
            if gate is not None:
                return gate
        changes["scopes"] = scopes
    if not changes:
        raise bad_request("Give name or scopes to change")
    with ctx.store.transaction():
        ctx.store.put("keys", {**key, **changes}, parent=caller.tenant_id)
        record(ctx, caller, "api_key.updated", "api_key", key["id"], {"fields": sorted(changes)})
    return ok({"status": "updated"})


async def revoke_key(ctx: Context, request: Request, caller: Caller) -> Response:
    """``DELETE /v1/api-keys/{key_id}``: ``{status: revoked}``; revoking twice is harmless."""
    key_id = path(request, "key_id")
    key = ctx.store.get("keys", key_id)
    if key is None or key["_tenant"] != caller.tenant_id:
        raise not_found("API key")
    body = await json_body(request)
    gate = codes.approval_gate(
        ctx, caller, "revoke_api_key", body.get("approval_code"), key_id=key_id
    )
    if gate is not None:
        return gate
    if key["is_active"]:
        with ctx.store.transaction():
            ctx.store.put("keys", {**key, "is_active": False}, parent=caller.tenant_id)
            record(ctx, caller, "api_key.revoked", "api_key", key_id)
    return ok({"status": "revoked"})


def needs_operator(old: Iterable[str], new: Iterable[str]) -> bool:
    """Whether changing a key's scopes from ``old`` to ``new`` needs the operator's code:
    it newly holds ``admin``, or newly may approve (``oversight``, which ``admin`` implies).
    Dropping rights, or spelling out ``oversight`` on an ``admin`` key, needs none."""
    before, after = set(old), set(new)
    may_approve_before = bool({"oversight", "admin"} & before)
    return ("admin" in after - before) or ("oversight" in after and not may_approve_before)
