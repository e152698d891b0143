"""Spam review across the tenant: ``GET /v1/emails`` (the spam list),
``POST /v1/emails/{email_id}/report-spam`` and ``POST /v1/emails/{email_id}/not-spam``.

An inbound email with a ``flagged`` verdict arrives ``spam_flagged``, a ``quarantined`` one
``spam_quarantined`` (`lifecycle.inbound_status`). The list shows both kinds across all of
the tenant's live mailboxes (or one with ``?status=``), newest first, as inbox summaries
plus ``mailbox_id``; its ``cursor`` is opaque (the id of the page's last email, as for
``check_inbox``: MultiMail's is a time, which would skip emails sharing one).
``report-spam`` quarantines an inbound email (a quarantined email leaves ``check_inbox``'s
plain listing, see `inbox.select`, but ``read_email`` still opens it) and ``not-spam``
restores a flagged or quarantined one to ``unread`` (in a ``gated_all`` mailbox to
``pending_inbound_approval`` unless the operator approved it before: restoring must not
skip the operator's gate); both record the user's label (kept
private, like MultiMail's training labels, and in the audit log) and answer
``{id, status, mailbox_id, label}``. Marking an email that is not spam as not spam only
records the label. Outbound mail cannot be labelled (400: the mailbox wrote it); an email
of another tenant or of a deleted mailbox is a 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api import inbox
from mm_assistants.sandbox.multimail_api.auth import Caller
from mm_assistants.sandbox.multimail_api.errors import bad_request, not_found
from mm_assistants.sandbox.multimail_api.routing import Context, api_route, ok, path, record
from mm_assistants.sandbox.multimail_api.views import summary

SPAM_STATUSES = ("spam_flagged", "spam_quarantined")
EMAIL = "/v1/emails/{email_id}"


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        api_route(ctx, "GET", "/v1/emails", list_spam, "read"),
        api_route(ctx, "POST", f"{EMAIL}/report-spam", report_spam, "send"),
        api_route(ctx, "POST", f"{EMAIL}/not-spam", not_spam, "send"),
    ]


async def list_spam(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET /v1/emails?status&limit&cursor``: ``{emails: [summary + mailbox_id], cursor}``."""
    query = request.query_params
    status = query.get("status")
    if status and status not in SPAM_STATUSES:
        raise bad_request(f"status must be one of {list(SPAM_STATUSES)}")
    wanted = (status,) if status else SPAM_STATUSES
    spam = [
        email
        for mailbox in ctx.store.children("mailboxes", caller.tenant_id)
        if mailbox["is_active"]
        for email in ctx.store.children("emails", mailbox["id"])
        if email["status"] in wanted
    ]
    # newest first; the sort is stable, so emails of one moment stay newest-stored first
    spam.reverse()
    spam.sort(key=lambda email: email["_created"], reverse=True)
    page, cursor = inbox.page_after(spam, query.get("cursor"), inbox.limit(query))
    return ok(
        {"emails": [{**summary(e), "mailbox_id": e["mailbox_id"]} for e in page], "cursor": cursor}
    )


async def report_spam(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST /v1/emails/{email_id}/report-spam``: quarantine it; label ``spam``."""
    email = _inbound_of(ctx, caller, path(request, "email_id"))
    return ok(_label(ctx, caller, email, "spam", "spam_quarantined"))


async def not_spam(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST /v1/emails/{email_id}/not-spam``: back to ``unread``; label ``not_spam``."""
    email = _inbound_of(ctx, caller, path(request, "email_id"))
    restored = email["status"]
    if restored in SPAM_STATUSES:
        mailbox = ctx.store.get("mailboxes", email["mailbox_id"]) or {}
        # a gated_all operator approves inbound mail first: "not spam" must not skip that
        held = mailbox.get("oversight_mode") == "gated_all" and email.get("approved_at") is None
        restored = "pending_inbound_approval" if held else "unread"
    return ok(_label(ctx, caller, email, "not_spam", restored))


def _inbound_of(ctx: Context, caller: Caller, email_id: str) -> Doc:
    email = ctx.store.get("emails", email_id)
    mailbox = None if email is None else ctx.store.get("mailboxes", email["mailbox_id"])
    if email is None or mailbox is None or email["_tenant"] != caller.tenant_id:
        raise not_found("Email")
    if not mailbox["is_active"]:
        raise not_found("Email")
    if email["direction"] != "inbound":
        raise bad_request(
            "Only inbound email can be labelled spam or not spam: this one was sent from "
            "the mailbox"
        )
    return email


def _label(ctx: Context, caller: Caller, email: Doc, label: str, status: str) -> Doc:
    email.update(status=status, _spam_label=label)
    with ctx.store.transaction():
        ctx.store.put("emails", email, parent=email["mailbox_id"])
        action = "email.reported_spam" if label == "spam" else "email.marked_not_spam"
        record(ctx, caller, action, "email", email["id"], {"status": status})
    return {"id": email["id"], "status": status, "mailbox_id": email["mailbox_id"], "label": label}
