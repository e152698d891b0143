"""Mailboxes: list, create (with the operator's code), update, configure, delete, and the
oversight-mode upgrade flow (``request-upgrade``, then ``upgrade {code}``).

PATCH may only tighten oversight (see `lifecycle.MODES`); loosening needs a code that
MultiMail mails to the operator, so an agent cannot lift its own gate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.docstore import Doc, public
from mm_assistants.sandbox.multimail_api import codes
from mm_assistants.sandbox.multimail_api.auth import Caller
from mm_assistants.sandbox.multimail_api.drafts import is_address
from mm_assistants.sandbox.multimail_api.errors import (
    bad_request,
    conflict,
    forbidden,
    not_found,
    too_many,
)
from mm_assistants.sandbox.multimail_api.lifecycle import GATE_TIMINGS, MODES, is_upgrade
from mm_assistants.sandbox.multimail_api.routing import (
    Context,
    api_route,
    json_body,
    mailbox_of,
    ok,
    record,
)
from mm_assistants.sandbox.multimail_api.tenants import mailbox_address, new_mailbox

MB = "/v1/mailboxes/{mailbox_id}"
_LOCAL_PART = re.compile(r"[a-z0-9][a-z0-9._+-]{0,63}\Z")
_TEXT_FIELDS = ("display_name", "signature_block")
_ADDRESS_FIELDS = ("auto_cc", "auto_bcc")


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        api_route(ctx, "GET", "/v1/mailboxes", list_mailboxes, "read"),
        api_route(ctx, "POST", "/v1/mailboxes", create_mailbox, "admin"),
        api_route(ctx, "GET", MB, get_mailbox, "read"),
        api_route(ctx, "PATCH", MB, update_mailbox, "admin"),
        api_route(ctx, "PATCH", f"{MB}/configure", update_mailbox, "admin"),
        api_route(ctx, "DELETE", MB, delete_mailbox, "admin"),
        api_route(ctx, "POST", f"{MB}/request-upgrade", request_upgrade, "send"),
        api_route(ctx, "POST", f"{MB}/upgrade", apply_upgrade, "send"),
    ]


def view(mailbox: Doc) -> Doc:
    """A mailbox as the API shows it (``ai_disclosure`` true for mailboxes stored before
    it existed, MultiMail's default; ``mcp_configured`` 0 until a configure call says 1)."""
    return {"ai_disclosure": True, "mcp_configured": 0, **public(mailbox)}


async def list_mailboxes(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/mailboxes``: the tenant's live mailboxes."""
    live = [m for m in ctx.store.children("mailboxes", caller.tenant_id) if m["is_active"]]
    return ok({"mailboxes": [view(m) for m in live]})


async def get_mailbox(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET mb``: one mailbox's settings (MultiMail's client reads ``mcp_configured`` here
    before its first send); 404 for another tenant's or a deleted one."""
    return ok(view(mailbox_of(ctx, request, caller)))


async def create_mailbox(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST /v1/mailboxes {address_local, display_name?, ai_disclosure?, approval_code?}``:
    202 with a code for the operator, then 201 ``{id, address, oversight_mode,
    ai_disclosure}``; always ``gated_send``."""
    body = await json_body(request)
    local = body.get("address_local")
    if not isinstance(local, str) or not local.strip():
        raise bad_request("address_local is required")
    local = local.strip().lower()
    if "@" in local:
        raise bad_request("Custom domains are not verified for this account; give a local part")
    if not _LOCAL_PART.match(local):
        raise bad_request(f"Invalid address local part: {local!r}")
    display_name = body.get("display_name")
    if display_name is not None and not isinstance(display_name, str):
        raise bad_request("display_name must be a string")
    disclose = _flag("ai_disclosure", body.get("ai_disclosure", True), "")
    tenant = ctx.store.get("tenants", caller.tenant_id) or {}
    address = mailbox_address(tenant, local)
    mailboxes = ctx.store.children("mailboxes", caller.tenant_id)
    if any(m["address"] == address and m["is_active"] for m in mailboxes):
        raise conflict(f"Address {address} is already in use")
    if sum(m["is_active"] for m in mailboxes) >= tenant.get("max_mailboxes", 0):
        raise forbidden("Plan mailbox limit reached")
    gate = codes.approval_gate(
        ctx, caller, "create_mailbox", body.get("approval_code"), address_local=local
    )
    if gate is not None:
        return gate
    mailbox = new_mailbox(caller.tenant_id, address, display_name, ctx.now())
    mailbox["ai_disclosure"] = disclose
    with ctx.store.transaction():
        ctx.store.put("mailboxes", mailbox, parent=caller.tenant_id)
        record(ctx, caller, "mailbox.created", "mailbox", mailbox["id"])
    answer = {"id": mailbox["id"], "address": address, "oversight_mode": "gated_send"}
    return ok({**answer, "ai_disclosure": disclose}, 201)


def _settings_changes(body: dict[str, Any], current_mode: str) -> dict[str, Any]:
    # Checked in the order of _SETTING_CHECKS, so the first bad field named is stable.
    return {
        name: check(name, body[name], current_mode)
        for name, check in _SETTING_CHECKS
        if name in body
    }


def _text(name: str, value: Any, current_mode: str) -> Any:
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    if name == "signature_block" and value is not None and len(value) > 200:
        raise bad_request("signature_block may be at most 200 characters")
    return value


def _address(name: str, value: Any, current_mode: str) -> Any:
    if value is not None and not is_address(value):
        raise bad_request(f"{name} must be an email address or null")
    return value


def _flag(name: str, value: Any, current_mode: str) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be a boolean")
    return value


def _flag_or_bit(name: str, value: Any, current_mode: str) -> bool:
    # MultiMail's own client sends configure's switches as 1/0
    if not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return _flag(name, value, current_mode)


def _flag_as_int(name: str, value: Any, current_mode: str) -> int:
    return int(_flag(name, value, current_mode))  # stored as the API's 0/1


def _bit(name: str, value: Any, current_mode: str) -> int:
    return int(_flag_or_bit(name, value, current_mode))  # stored as the API's 0/1


def _gate_timing(name: str, value: Any, current_mode: str) -> Any:
    if value not in GATE_TIMINGS:
        raise bad_request("default_gate_timing must be 'gate_first' or 'schedule_first'")
    return value


def _mode(name: str, mode: Any, current_mode: str) -> Any:
    if mode not in MODES:
        raise bad_request(f"oversight_mode must be one of {list(MODES)}")
    if is_upgrade(current_mode, mode):
        raise forbidden(
            f"Oversight mode can only be downgraded here ({current_mode} -> {mode} is an "
            "upgrade); use POST /v1/mailboxes/{id}/request-upgrade"
        )
    return mode


_SETTING_CHECKS: tuple[tuple[str, Callable[[str, Any, str], Any]], ...] = (
    *((name, _text) for name in _TEXT_FIELDS),
    *((name, _address) for name in _ADDRESS_FIELDS),
    ("forward_inbound", _flag_as_int),
    ("scheduling_enabled", _flag_or_bit),
    ("ai_disclosure", _flag_or_bit),
    # set by MultiMail's client on every configure call; its first-run check reads it back
    ("mcp_configured", _bit),
    ("default_gate_timing", _gate_timing),
    ("oversight_mode", _mode),
)


async def update_mailbox(ctx: Context, request: Request, caller: Caller) -> Response:
    """``PATCH mb`` and ``PATCH mb/configure``: ``{status: updated}``."""
    mailbox = mailbox_of(ctx, request, caller)
    changes = _settings_changes(await json_body(request), mailbox["oversight_mode"])
    mailbox.update(changes)
    with ctx.store.transaction():
        ctx.store.put("mailboxes", mailbox, parent=caller.tenant_id)
        record(
            ctx, caller, "mailbox.updated", "mailbox", mailbox["id"], {"fields": sorted(changes)}
        )
    return ok({"status": "updated", "oversight_mode": mailbox["oversight_mode"]})


async def delete_mailbox(ctx: Context, request: Request, caller: Caller) -> Response:
    """``DELETE mb``: a soft delete; the mailbox answers 404 from then on."""
    mailbox = mailbox_of(ctx, request, caller)
    mailbox["is_active"] = 0
    with ctx.store.transaction():
        ctx.store.put("mailboxes", mailbox, parent=caller.tenant_id)
        record(ctx, caller, "mailbox.deleted", "mailbox", mailbox["id"])
    return ok({"status": "deleted"})


async def request_upgrade(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST mb/request-upgrade {target_mode}``: mails the operator a code (3 per hour)."""
    mailbox = mailbox_of(ctx, request, caller)
    target = (await json_body(request)).get("target_mode")
    if target not in MODES:
        raise bad_request(f"target_mode must be one of {list(MODES)}")
    if target == mailbox["oversight_mode"]:
        raise bad_request(f"Mailbox is already in {target} mode")
    recent = [
        code
        for code in ctx.store.children("codes", caller.tenant_id)
        if code["purpose"] == "upgrade"
        and code["mailbox_id"] == mailbox["id"]
        and ctx.now() - code["_created"] < 3600
    ]
    if len(recent) >= ctx.settings.upgrade_requests_per_hour:
        wait = 3600 - (ctx.now() - recent[0]["_created"])
        raise too_many("Too many upgrade requests for this mailbox; try again later", int(wait) + 1)
    with ctx.store.transaction():
        codes.issue(ctx, caller.tenant_id, "upgrade", mailbox_id=mailbox["id"], target_mode=target)
        record(
            ctx,
            caller,
            "mailbox.upgrade_requested",
            "mailbox",
            mailbox["id"],
            {"target_mode": target},
        )
    return ok(
        {
            "status": "upgrade_requested",
            "message": "An upgrade code was sent to the operator's oversight email.",
        }
    )


async def apply_upgrade(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST mb/upgrade {code}``: ``{status: upgraded}``; 404 without a pending request,
    403 for a wrong code."""
    mailbox = mailbox_of(ctx, request, caller)
    code = (await json_body(request)).get("code")
    if not isinstance(code, str) or not code.strip():
        raise bad_request("code is required")
    if not [
        c
        for c in codes.open_codes(ctx, caller.tenant_id, "upgrade")
        if c["mailbox_id"] == mailbox["id"]
    ]:
        raise not_found("Pending upgrade request")
    used = codes.redeem(ctx, caller.tenant_id, "upgrade", code, mailbox_id=mailbox["id"])
    if used is None:
        raise forbidden("Invalid upgrade code")
    mailbox["oversight_mode"] = used["target_mode"]
    with ctx.store.transaction():
        ctx.store.put("mailboxes", mailbox, parent=caller.tenant_id)
        record(
            ctx,
            caller,
            "mailbox.upgraded",
            "mailbox",
            mailbox["id"],
            {"oversight_mode": used["target_mode"]},
        )
    return ok({"status": "upgraded", "oversight_mode": used["target_mode"]})
