"""The plumbing every route shares: context, counting, settling, auth, errors.

`api_route` wraps a handler of MultiMail's API: it counts the request under its route
template (for the benchmarks), settles due emails first (so every answer reflects the
clock), authenticates the key and checks the route's scope, counts the call in the
tenant's usage, and turns `ApiError` into ``{"error": ...}``. `open_route` does the same
for routes without a key (``/health``, confirmation, the ``/sandbox`` controls).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mm_assistants.sandbox.counters import RequestCounters
from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api.auth import Caller, Scope, authenticate
from mm_assistants.sandbox.multimail_api.errors import ApiError, bad_request, not_found
from mm_assistants.sandbox.multimail_api.ledger import audit, count
from mm_assistants.sandbox.multimail_api.postbox import Postbox
from mm_assistants.sandbox.multimail_api.settings import MultiMailSandboxSettings
from mm_assistants.sandbox.multimail_api.store import Store


@dataclass
class Context:
    """What the handlers share: storage, clock, settings, the postbox, the counters."""

    store: Store
    clock: Callable[[], float]
    settings: MultiMailSandboxSettings
    postbox: Postbox
    counters: RequestCounters

    def now(self) -> float:
        """The sandbox clock, unix seconds."""
        return self.clock()


ApiHandler = Callable[[Context, Request, Caller], Awaitable[Response]]
OpenHandler = Callable[[Context, Request], Awaitable[Response]]


def api_route(ctx: Context, method: str, path: str, handler: ApiHandler, scope: Scope) -> Route:
    """A route of MultiMail's API that needs a key holding ``scope``."""
    key = f"{method} {path}"

    async def endpoint(request: Request) -> Response:
        ctx.counters.count(key)
        try:
            ctx.postbox.sweep()
            caller = authenticate(ctx.store, request.headers, ctx.now())
            count(ctx.store, caller.tenant_id, "api_calls", ctx.now())
            caller.require(scope)
            return await handler(ctx, request, caller)
        except ApiError as exc:
            return exc.response()

    return Route(path, endpoint, methods=[method], name=key)


def open_route(
    ctx: Context, method: str, path: str, handler: OpenHandler, *, counted: bool = True
) -> Route:
    """A route without a key (counted unless it is a sandbox control)."""
    key = f"{method} {path}"

    async def endpoint(request: Request) -> Response:
        if counted:
            ctx.counters.count(key)
        try:
            ctx.postbox.sweep()
            return await handler(ctx, request)
        except ApiError as exc:
            return exc.response()

    return Route(path, endpoint, methods=[method], name=key)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty body); 400 otherwise."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise bad_request("Invalid JSON body") from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    return body


def ok(doc: Any, status: int = 200) -> JSONResponse:
    """A JSON answer."""
    return JSONResponse(doc, status_code=status)


def path(request: Request, name: str) -> str:
    """A path parameter as text."""
    return str(request.path_params[name])


def load_mailbox(ctx: Context, caller: Caller, mailbox_id: str) -> Doc:
    """The caller's live mailbox ``mailbox_id``; 404 for unknown, deleted or foreign ones."""
    mailbox = ctx.store.get("mailboxes", mailbox_id)
    if mailbox is None or mailbox["tenant_id"] != caller.tenant_id or not mailbox["is_active"]:
        raise not_found("Mailbox")
    return mailbox


def load_email(ctx: Context, mailbox: Doc, email_id: str) -> Doc:
    """Email ``email_id`` of ``mailbox``; 404 otherwise."""
    email = ctx.store.get("emails", email_id)
    if email is None or email["mailbox_id"] != mailbox["id"]:
        raise not_found("Email")
    return email


def mailbox_of(ctx: Context, request: Request, caller: Caller) -> Doc:
    """The mailbox named by the ``mailbox_id`` path parameter."""
    return load_mailbox(ctx, caller, path(request, "mailbox_id"))


def record(
    ctx: Context,
    caller: Caller,
    action: str,
    resource_type: str,
    resource_id: str,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write the audit entry of a change the caller made (see `ledger.audit`)."""
    audit(
        ctx.store,
        caller.tenant_id,
        caller.key_id,
        action,
        resource_type,
        resource_id,
        ctx.now(),
        metadata,
    )
