"""Sending: ``mb/send`` (also schedule_email), ``mb/reply/{id}``, ``mb/emails/{id}/cancel``
and ``mb/emails/{id}/schedule``. The rules are in `postbox` and `lifecycle`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.multimail_api import drafts
from mm_assistants.sandbox.multimail_api.auth import Caller
from mm_assistants.sandbox.multimail_api.errors import bad_request
from mm_assistants.sandbox.multimail_api.routing import (
    Context,
    api_route,
    json_body,
    load_email,
    mailbox_of,
    ok,
    path,
)
from mm_assistants.sandbox.multimail_api.views import full

MB = "/v1/mailboxes/{mailbox_id}"


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        api_route(ctx, "POST", f"{MB}/send", send, "send"),
        api_route(ctx, "POST", f"{MB}/reply/{{email_id}}", reply, "send"),
        api_route(ctx, "POST", f"{MB}/emails/{{email_id}}/cancel", cancel, "send"),
        api_route(ctx, "PATCH", f"{MB}/emails/{{email_id}}/schedule", reschedule, "send"),
    ]


async def send(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST mb/send``: 202 ``{id, status: pending_scan, thread_id}``, or 200
    ``already_sent`` for a repeated ``idempotency_key``."""
    mailbox = mailbox_of(ctx, request, caller)
    draft = drafts.read_send(await json_body(request), ctx.now())
    if draft.send_at is not None and not mailbox.get("scheduling_enabled", True):
        raise bad_request("Scheduling is disabled for this mailbox")
    status, answer = ctx.postbox.send(mailbox, draft, caller.key_id)
    return ok(answer, status)


async def reply(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST mb/reply/{email_id}``: like send, in the original's thread."""
    mailbox = mailbox_of(ctx, request, caller)
    original = load_email(ctx, mailbox, path(request, "email_id"))
    draft = drafts.read_reply(await json_body(request))
    status, answer = ctx.postbox.reply(mailbox, original, draft, caller.key_id)
    return ok(answer, status)


async def cancel(ctx: Context, request: Request, caller: Caller) -> Response:
    """``POST mb/emails/{email_id}/cancel``: ``{id, status: cancelled}``; 409 once approved
    or sent."""
    mailbox = mailbox_of(ctx, request, caller)
    email = load_email(ctx, mailbox, path(request, "email_id"))
    return ok(ctx.postbox.cancel(email, caller.key_id))


async def reschedule(ctx: Context, request: Request, caller: Caller) -> Response:
    """``PATCH mb/emails/{email_id}/schedule``: edit while ``scheduled``; 409 otherwise."""
    mailbox = mailbox_of(ctx, request, caller)
    email = load_email(ctx, mailbox, path(request, "email_id"))
    body = await json_body(request)
    fields: dict[str, Any] = {}
    for name in ("to", "cc", "bcc"):
        if body.get(name) is not None:
            fields[name] = list(drafts.addresses(body, name, required=name == "to"))
    if body.get("subject") is not None:
        fields["subject"] = drafts.text(body, "subject", required=True)
    if body.get("markdown") is not None:
        fields["markdown"] = drafts.markdown(body)
    send_at = drafts.send_at(body.get("send_at"), ctx.now())
    if not fields and send_at is None:
        raise bad_request("Nothing to change: give send_at, to, cc, bcc, subject or markdown")
    edited = ctx.postbox.reschedule(email, fields, send_at, caller.key_id)
    return ok(full(edited))
