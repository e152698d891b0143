"""Account confirmation: ``POST /v1/account/resend-confirmation`` and ``POST /v1/confirm``.

Neither needs a key. A signup (``POST /v1/account`` with a solved challenge, see
`routes_challenge`; or the sandbox's ``POST /sandbox/signup`` and `MultiMailControl.signup`)
creates an unconfirmed tenant and its ``agent`` mailbox and
mails the operator a ``confirm_account`` code; ``/v1/confirm {code}`` activates the
tenant and answers a new read+send key once.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api import codes
from mm_assistants.sandbox.multimail_api.auth import authenticate, issue_key, presented_key
from mm_assistants.sandbox.multimail_api.drafts import is_address
from mm_assistants.sandbox.multimail_api.errors import ApiError, bad_request
from mm_assistants.sandbox.multimail_api.routing import Context, json_body, ok, open_route
from mm_assistants.sandbox.multimail_api.tenants import mailbox_address, new_mailbox, new_tenant

CONFIRM = "confirm_account"
_RESENT = {
    "status": "confirmation_resent",
    "message": "If the account awaits confirmation, a new code was sent to its oversight email.",
}


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        open_route(ctx, "POST", "/v1/account/resend-confirmation", resend_confirmation),
        open_route(ctx, "POST", "/v1/confirm", confirm),
    ]


def create_signup(
    ctx: Context,
    name: str,
    oversight_email: str,
    *,
    slug: str | None = None,
    oversight_mode: str = "gated_send",
    plan: str = "pro",
    profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An unconfirmed tenant with an ``agent`` mailbox in ``oversight_mode``, and its
    confirmation code (mailed to the operator: see `MultiMailControl.codes`).

    ``slug`` is taken as given (409 with free suggestions when taken); without it one is
    made from ``name``. ``profile`` adds ``physical_address`` and ``use_case``."""
    if not name.strip() or not is_address(oversight_email):
        raise bad_request("A signup needs a name and an oversight_email address")
    taken = {t["slug"] for t in ctx.store.children("tenants")}
    if slug is not None and slug in taken:
        raise slug_taken(slug, taken)
    if slug is None:
        slug = free_slugs(re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "tenant", taken)[0]
    tenant = new_tenant(name.strip(), slug, oversight_email, ctx.now(), ctx.settings)
    tenant.update(confirmed=False, plan=plan, **dict(profile or {}))
    mailbox = new_mailbox(tenant["id"], mailbox_address(tenant, "agent"), "Agent", ctx.now())
    mailbox["oversight_mode"] = oversight_mode
    with ctx.store.transaction():
        ctx.store.put("tenants", tenant)
        ctx.store.put("mailboxes", mailbox, parent=tenant["id"])
        code = codes.issue(ctx, tenant["id"], CONFIRM)
    return {"tenant_id": tenant["id"], "mailbox_id": mailbox["id"], "code": code["id"]}


def slug_taken(slug: str, taken: Collection[str]) -> ApiError:
    """The 409 for a ``slug`` already in ``taken``, with free ``suggestions``."""
    return ApiError(
        409, f"Slug '{slug}' is already taken", extra={"suggestions": free_slugs(slug, taken)}
    )


def free_slugs(slug: str, taken: Collection[str], count: int = 3) -> list[str]:
    """``slug`` itself if free, else the first ``count`` free ``slug-2``, ``slug-3``, ..."""
    if slug not in taken:
        return [slug]
    free = (f"{slug}-{n}" for n in range(2, 2 + len(taken) + count))
    return [candidate for candidate in free if candidate not in taken][:count]


async def resend_confirmation(ctx: Context, request: Request) -> Response:
    """``POST /v1/account/resend-confirmation {oversight_email}`` (or the older
    ``{email}``): always the same answer (no account enumeration), except 400 for the key
    of an account that is already confirmed."""
    if presented_key(request.headers) is not None:
        caller = authenticate(ctx.store, request.headers, ctx.now())
        tenant = ctx.store.get("tenants", caller.tenant_id) or {}
        if tenant.get("confirmed", True):
            raise bad_request("Account already confirmed")
    body = await json_body(request)
    # MultiMail's MCP server sends ``oversight_email``; older clients sent ``email``
    address = body.get("oversight_email", body.get("email"))
    for tenant in ctx.store.children("tenants"):
        if not tenant.get("confirmed", True) and tenant["oversight_email"] == address:
            codes.issue(ctx, tenant["id"], CONFIRM)
    return ok(_RESENT)


async def confirm(ctx: Context, request: Request) -> Response:
    """``POST /v1/confirm {code}``: activate; answers the new key once."""
    code = (await json_body(request)).get("code")
    if not isinstance(code, str) or not code.strip():
        raise bad_request("code is required")
    for tenant in ctx.store.children("tenants"):
        if codes.redeem(ctx, tenant["id"], CONFIRM, code) is not None:
            return ok(_activate(ctx, tenant))
    raise ApiError(400, "Invalid or expired confirmation code")


def _activate(ctx: Context, tenant: Doc) -> dict[str, Any]:
    with ctx.store.transaction():
        ctx.store.put("tenants", {**tenant, "confirmed": True})
        _, raw = issue_key(ctx.store, tenant["id"], "activation key", ("read", "send"), ctx.now())
        mailbox = ctx.store.children("mailboxes", tenant["id"])[0]
    return {
        "status": "confirmed",
        "name": tenant["name"],
        "oversight_mode": mailbox["oversight_mode"],
        "api_key": raw,
        "mailbox_id": mailbox["id"],
        "mailbox_address": mailbox["address"],
        "oversight_email": tenant["oversight_email"],
        "use_case": tenant.get("use_case"),
    }
