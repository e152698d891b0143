"""Reading mail: ``mb/emails`` (check_inbox), ``mb/emails/{id}`` (read_email),
``mb/threads/{id}``, tags, and attachments: the bytes with a key, or a signed link (see
`downloads`) that works without one, as MultiMail's presigned links do."""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.multimail_api import downloads, inbox, lifecycle
from mm_assistants.sandbox.multimail_api.auth import Caller
from mm_assistants.sandbox.multimail_api.errors import bad_request, forbidden, not_found
from mm_assistants.sandbox.multimail_api.routing import (
    Context,
    api_route,
    json_body,
    load_email,
    mailbox_of,
    ok,
    open_route,
    path,
    record,
)
from mm_assistants.sandbox.multimail_api.views import full, summary, thread

MB = "/v1/mailboxes/{mailbox_id}"
EMAIL = f"{MB}/emails/{{email_id}}"


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        api_route(ctx, "GET", f"{MB}/emails", list_emails, "read"),
        api_route(ctx, "GET", EMAIL, read_email, "read"),
        api_route(ctx, "GET", f"{MB}/threads/{{thread_id}}", get_thread, "read"),
        api_route(ctx, "PUT", f"{EMAIL}/tags", set_tags, "send"),
        api_route(ctx, "GET", f"{EMAIL}/tags", get_tags, "read"),
        api_route(ctx, "DELETE", f"{EMAIL}/tags/{{key}}", delete_tag, "send"),
        api_route(ctx, "GET", f"{EMAIL}/attachments/{{filename}}/url", attachment_url, "read"),
        api_route(ctx, "GET", f"{EMAIL}/attachments/{{filename}}", attachment, "read"),
        open_route(ctx, "GET", downloads.PREFIX + "{filename}", signed_download),
    ]


async def list_emails(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET mb/emails``: ``{emails: [summaries], cursor}``, newest first."""
    mailbox = mailbox_of(ctx, request, caller)
    emails = ctx.store.children("emails", mailbox["id"])
    page, cursor = inbox.select(emails, request.query_params)
    return ok({"emails": [summary(e) for e in page], "cursor": cursor})


async def read_email(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET mb/emails/{email_id}``: the full email; an unread one becomes read."""
    mailbox = mailbox_of(ctx, request, caller)
    email = load_email(ctx, mailbox, path(request, "email_id"))
    shown = lifecycle.mark_read(email)
    if shown != email:
        ctx.store.put("emails", shown, parent=mailbox["id"])
    return ok(full(shown))


async def get_thread(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET mb/threads/{thread_id}``; 404 when no email of the mailbox is in it."""
    mailbox = mailbox_of(ctx, request, caller)
    thread_id = path(request, "thread_id")
    emails = [e for e in ctx.store.children("emails", mailbox["id"]) if e["thread_id"] == thread_id]
    if not emails:
        raise not_found("Thread")
    return ok(thread(thread_id, emails))


async def set_tags(ctx: Context, request: Request, caller: Caller) -> Response:
    """``PUT .../tags {tags: {key: value}}``: merged into the email's tags; answers all."""
    mailbox = mailbox_of(ctx, request, caller)
    email = load_email(ctx, mailbox, path(request, "email_id"))
    tags = (await json_body(request)).get("tags")
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise bad_request("tags must be an object of string keys to string values")
    email["tags"] = {**email["tags"], **tags}
    with ctx.store.transaction():
        ctx.store.put("emails", email, parent=mailbox["id"])
        metadata = {"keys": sorted(tags)}
        record(ctx, caller, "email.tags_set", "email", email["id"], metadata)
    return ok({"tags": email["tags"]})


async def get_tags(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET .../tags``: ``{tags: {...}}``."""
    mailbox = mailbox_of(ctx, request, caller)
    return ok({"tags": load_email(ctx, mailbox, path(request, "email_id"))["tags"]})


async def delete_tag(ctx: Context, request: Request, caller: Caller) -> Response:
    """``DELETE .../tags/{key}``: ``{deleted: true}`` (also when the tag was absent)."""
    mailbox = mailbox_of(ctx, request, caller)
    email = load_email(ctx, mailbox, path(request, "email_id"))
    key = path(request, "key")
    if key in email["tags"]:
        del email["tags"][key]
        with ctx.store.transaction():
            ctx.store.put("emails", email, parent=mailbox["id"])
            metadata = {"key": key}
            record(ctx, caller, "email.tag_deleted", "email", email["id"], metadata)
    return ok({"deleted": True})


def _blob(ctx: Context, request: Request, caller: Caller) -> dict[str, Any]:
    mailbox = mailbox_of(ctx, request, caller)
    email = load_email(ctx, mailbox, path(request, "email_id"))
    blob = ctx.store.get("blobs", f"{email['id']}/{path(request, 'filename')}")
    if blob is None:
        raise not_found("Attachment")
    return blob


async def attachment_url(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET .../attachments/{filename}/url``: ``{url, filename, size_bytes, content_type,
    expires_in}`` as MultiMail's client reads it; ``url`` fetches the file without a key
    until it expires (``settings.download_url_ttl``)."""
    blob = _blob(ctx, request, caller)
    ttl = ctx.settings.download_url_ttl
    token = downloads.sign_download(blob["id"], expires=ctx.now() + ttl, secret=ctx.store.secret())
    # base_url keeps a mount's root path, so the link works where this app is served; the
    # token rides in the query, which clients and logs treat as the secret part of a URL
    url = str(request.base_url).rstrip("/") + downloads.link_path(blob["name"], token)
    answer = {
        "url": url,
        "filename": path(request, "filename"),
        "size_bytes": len(base64.b64decode(blob["content_base64"])),
        "content_type": blob["content_type"],
        "expires_in": ttl,
    }
    return ok(answer)


async def attachment(ctx: Context, request: Request, caller: Caller) -> Response:
    """``GET .../attachments/{filename}``: the bytes, with the stored content type."""
    blob = _blob(ctx, request, caller)
    return Response(base64.b64decode(blob["content_base64"]), media_type=blob["content_type"])


async def signed_download(ctx: Context, request: Request) -> Response:
    """``GET /v1/downloads/{filename}?token=...``: the bytes of the one file the token
    names, no key needed; 403 for a token the sandbox did not sign (or for another file),
    410 once expired, 404 when the file is gone."""
    token = request.query_params.get("token", "")
    blob_id = downloads.read_download(token, now=ctx.now(), secret=ctx.store.secret())
    blob = ctx.store.get("blobs", blob_id)
    if blob is None:
        raise not_found("Attachment")
    if blob["name"] != path(request, "filename"):
        raise forbidden("Invalid download link")
    body = base64.b64decode(blob["content_base64"])
    # a link is a credential: keep it out of shared caches
    headers = {"Cache-Control": "private, no-store"}
    return Response(body, media_type=blob["content_type"], headers=headers)
