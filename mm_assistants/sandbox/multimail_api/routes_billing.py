"""Billing of a sandbox tenant: ``POST /v1/billing/checkout``, ``/portal`` and ``/cancel``
(admin scope), and the sandbox's stand-ins for Stripe's pages under ``/sandbox/billing``.

A tenant's billing lives in its private ``_billing``: a ``customer`` id (made by the first
completed checkout) and a ``subscription`` ``{plan, interval, current_period_end,
cancel_at_period_end}``. The seeded tenants are on ``pro`` without either (a comped plan);
a ``POST /v1/account`` signup starts on the free ``starter`` plan. So:

- ``checkout {plan: builder|pro|scale, interval?: monthly|annual}`` answers
  ``{checkout_url, session_id}``; the URL is this server's
  ``/sandbox/billing/checkout/{token}``. Opening it (``GET``, no key and no control token:
  it is the operator in a browser) shows what is bought and a "Pay" form; its ``POST``
  completes the checkout: the plan changes, a subscription starts. A ``GET`` never pays, so
  a link previewer cannot. The token is random and apart from ``session_id``: a client
  withholds the URL as a secret (anyone holding it pays) but shows the session id, so the
  id must not rebuild the URL. Tests complete a checkout by its id with
  `MultiMailControl.complete_checkout`, or ``POST`` the URL.
- ``portal`` answers ``{portal_url}`` (``/sandbox/billing/portal/{id}``, which shows the
  tenant's billing), or 400 ``No Stripe customer on file`` before any checkout.

Both pages are HTML for a browser and JSON for any other client (`billing_pages`); the
served sandbox lets them through its control guard without the token, with their own
checks (`mm_assistants.sandbox.control_guard`, bearer links).
- ``cancel`` needs a subscription (400 ``No active subscription``) and, like MultiMail,
  the operator: the first call answers 202 and mails a ``cancel_subscription`` code, the
  call with ``approval_code`` answers ``{status: cancelling, cancel_at_period_end: true,
  access_until}``; asking again while cancelling answers the same, without a code. When
  the sandbox clock passes ``access_until`` the tenant is back on ``starter``.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api import billing_pages, codes
from mm_assistants.sandbox.multimail_api.auth import Caller
from mm_assistants.sandbox.multimail_api.errors import bad_request, not_found
from mm_assistants.sandbox.multimail_api.formats import iso, new_id
from mm_assistants.sandbox.multimail_api.routing import (
    Context,
    api_route,
    json_body,
    ok,
    open_route,
    path,
    record,
)

PLANS = ("builder", "pro", "scale")
INTERVALS = {"monthly": 30 * 86_400.0, "annual": 365 * 86_400.0}
FREE_PLAN = "starter"
CANCEL = "cancel_subscription"
#: The prefix of a checkout's pay-link token (never a session id's ``cs_``).
_LINK = "pay_"
# what the checkout link shows of its session (not the tenant)
_SHOWN = ("status", "plan", "interval")


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        api_route(ctx, "POST", "/v1/billing/checkout", checkout, "admin"),
        api_route(ctx, "POST", "/v1/billing/portal", portal, "admin"),
        api_route(ctx, "POST", "/v1/billing/cancel", cancel, "admin"),
        open_route(ctx, "GET", "/sandbox/billing/checkout/{token}", show_checkout, counted=False),
        open_route(ctx, "POST", "/sandbox/billing/checkout/{token}", pay, counted=False),
        open_route(ctx, "GET", "/sandbox/billing/portal/{session_id}", show_portal, counted=False),
    ]


def billing_of(ctx: Context, tenant_id: str) -> Doc:
    """The tenant's billing ``{plan, customer, subscription}``, after ending a cancelled
    subscription whose period is over (the sandbox settles it lazily, on the next look)."""
    with ctx.store.transaction():
        tenant = ctx.store.get("tenants", tenant_id)
        if tenant is None:
            raise not_found("Account")
        billing = dict(tenant.get("_billing") or {"customer": None, "subscription": None})
        subscription = billing.get("subscription")
        if (
            subscription
            and subscription["cancel_at_period_end"]
            and ctx.now() >= subscription["_period_end"]
        ):
            billing["subscription"] = None
            tenant.update(plan=FREE_PLAN, _billing=billing)
            ctx.store.put("tenants", tenant)
    return {"plan": tenant["plan"], **billing}


async def checkout(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST /v1/billing/checkout``: ``{checkout_url, session_id}``."""
    body = await json_body(request)
    plan, interval = body.get("plan"), body.get("interval") or "monthly"
    if plan not in PLANS:
        raise bad_request(f"plan must be one of {list(PLANS)}")
    if interval not in INTERVALS:
        raise bad_request(f"interval must be one of {list(INTERVALS)}")
    session: Doc = {
        "id": new_id("cs_"),
        "kind": "checkout",
        "plan": plan,
        "interval": interval,
        "status": "open",
        "tenant_id": caller.tenant_id,
    }
    # the pay link is an index doc under the empty parent: token -> session
    link: Doc = {"id": _LINK + secrets.token_urlsafe(24), "kind": "link"}
    link["session_id"] = session["id"]
    with ctx.store.transaction():
        ctx.store.put("billing", session, parent=caller.tenant_id)
        ctx.store.put("billing", link)
        record(ctx, caller, "billing.checkout_started", "billing", session["id"], {"plan": plan})
    url = _sandbox_url(request, f"/sandbox/billing/checkout/{link['id']}")
    return ok({"checkout_url": url, "session_id": session["id"]})


async def portal(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST /v1/billing/portal``: ``{portal_url}``; 400 without a customer."""
    if billing_of(ctx, caller.tenant_id)["customer"] is None:
        raise bad_request("No Stripe customer on file")
    session = {"id": new_id("bps_"), "kind": "portal", "tenant_id": caller.tenant_id}
    ctx.store.put("billing", session, parent=caller.tenant_id)
    return ok({"portal_url": _sandbox_url(request, f"/sandbox/billing/portal/{session['id']}")})


async def cancel(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST /v1/billing/cancel {approval_code?}``: see the module docstring."""
    billing = billing_of(ctx, caller.tenant_id)
    subscription = billing["subscription"]
    if subscription is None:
        raise bad_request("No active subscription")
    if not subscription["cancel_at_period_end"]:
        gate = codes.approval_gate(
            ctx, caller, CANCEL, (await json_body(request)).get("approval_code")
        )
        if gate is not None:
            return gate
        subscription["cancel_at_period_end"] = True
        with ctx.store.transaction():
            tenant = ctx.store.get("tenants", caller.tenant_id) or {}
            ctx.store.put("tenants", {**tenant, "_billing": billing_doc(billing)})
            record(ctx, caller, "billing.cancelled", "billing", caller.tenant_id)
    return ok(
        {
            "status": "cancelling",
            "cancel_at_period_end": True,
            "access_until": subscription["current_period_end"],
        }
    )


def complete_checkout(ctx: Context, session_id: str) -> Doc:
    """Complete checkout session ``session_id`` as the paying operator: the plan changes and
    a subscription starts (completing it again changes nothing). Answers
    ``{status: complete, session_id, tenant_id, plan, interval}``; 404 for an unknown one."""
    with ctx.store.transaction():
        session = ctx.store.get("billing", session_id)
        if session is None or session["kind"] != "checkout":
            raise not_found("Checkout session")
        tenant_id = session["tenant_id"]
        if session["status"] == "open":
            billing = billing_of(ctx, tenant_id)
            now = ctx.now()
            end = now + INTERVALS[session["interval"]]
            billing["customer"] = billing["customer"] or new_id("cus_")
            billing["subscription"] = {
                "plan": session["plan"],
                "interval": session["interval"],
                "current_period_end": iso(end),
                "cancel_at_period_end": False,
                "_period_end": end,
            }
            tenant = ctx.store.get("tenants", tenant_id) or {}
            tenant.update(plan=session["plan"], _billing=billing_doc(billing))
            ctx.store.put("tenants", tenant)
            ctx.store.put("billing", {**session, "status": "complete"}, parent=tenant_id)
    return {
        "status": "complete",
        "session_id": session_id,
        "tenant_id": tenant_id,
        "plan": session["plan"],
        "interval": session["interval"],
    }


def billing_doc(billing: Doc) -> Doc:
    """What a tenant keeps in ``_billing`` (the view without its ``plan``)."""
    return {"customer": billing["customer"], "subscription": billing["subscription"]}


def billing_view(billing: Doc) -> dict[str, Any]:
    """Billing as the sandbox's portal page shows it (no private fields)."""
    subscription = billing["subscription"]
    shown = None
    if subscription is not None:
        shown = {k: v for k, v in subscription.items() if not k.startswith("_")}
    return {"plan": billing["plan"], "customer": billing["customer"], "subscription": shown}


def _checkout_of(ctx: Context, request: Request) -> Doc:
    # 404 for anything but a pay link's token, a session id included
    link = ctx.store.get("billing", path(request, "token"))
    if link is None or link["kind"] != "link":
        raise not_found("Checkout session")
    session = ctx.store.get("billing", link["session_id"])
    if session is None:
        raise not_found("Checkout session")
    return session


async def show_checkout(ctx: Context, request: Request) -> Response:
    """``GET /sandbox/billing/checkout/{token}``: the checkout page (its form pays); the
    session ``{status, session_id, plan, interval}`` as JSON for a non-browser."""
    session = _checkout_of(ctx, request)
    if billing_pages.wants_html(request.headers.get("accept")):
        return _html(billing_pages.checkout_page(session))
    return ok({"session_id": session["id"], **{k: session[k] for k in _SHOWN}})


async def pay(ctx: Context, request: Request) -> Response:
    """``POST /sandbox/billing/checkout/{token}``: the operator pays (the page's form, or
    any client); answers `complete_checkout`'s document, as a page for a browser."""
    done = complete_checkout(ctx, _checkout_of(ctx, request)["id"])
    if billing_pages.wants_html(request.headers.get("accept")):
        return _html(billing_pages.checkout_page(done))
    return ok(done)


async def show_portal(ctx: Context, request: Request) -> Response:
    """``GET /sandbox/billing/portal/{session_id}``: the tenant's billing (page or JSON)."""
    session = ctx.store.get("billing", path(request, "session_id"))
    if session is None or session["kind"] != "portal":
        raise not_found("Portal session")
    view = billing_view(billing_of(ctx, session["tenant_id"]))
    if billing_pages.wants_html(request.headers.get("accept")):
        return _html(billing_pages.portal_page(view))
    return ok(view)


def _html(page: str) -> HTMLResponse:
    return HTMLResponse(page, headers=dict(billing_pages.PAGE_HEADERS))


def _sandbox_url(request: Request, route: str) -> str:
    # the sandbox's own origin, so a test (or a person) can open the URL it was given
    return str(request.base_url).rstrip("/") + route
