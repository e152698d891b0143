"""`create_multimail_app`: the MultiMail-compatible sandbox as one Starlette application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.counters import RequestCounters
from mm_assistants.sandbox.multimail_api import (
    control,
    routes_absent,
    routes_account,
    routes_billing,
    routes_challenge,
    routes_contacts,
    routes_inbox,
    routes_mail,
    routes_mailboxes,
    routes_oversight,
    routes_public,
    routes_signup,
    routes_spam,
    routes_webhooks,
)
from mm_assistants.sandbox.multimail_api.errors import ApiError
from mm_assistants.sandbox.multimail_api.events import EventSink
from mm_assistants.sandbox.multimail_api.postbox import Postbox
from mm_assistants.sandbox.multimail_api.recording import RecordingSink
from mm_assistants.sandbox.multimail_api.routing import Context, ok, open_route
from mm_assistants.sandbox.multimail_api.seed import ensure_seed
from mm_assistants.sandbox.multimail_api.settings import MultiMailSandboxSettings
from mm_assistants.sandbox.multimail_api.store import Store


def create_multimail_app(
    *,
    db_path: str,
    clock: Callable[[], float],
    settings: MultiMailSandboxSettings | None = None,
    event_sink: EventSink | None = None,
) -> Starlette:
    """A MultiMail-compatible API server on SQLite, for demos, tests and benchmarks.

    ``db_path`` is the SQLite file for the ``mm_*`` tables (created if missing). The first
    start on an empty file seeds two tenants with mailboxes and keys (`SandboxSeed`); an
    app made again on the same file finds the same seed, emails and keys. ``clock``
    returns unix seconds (a `SandboxClock` lets ``/sandbox/clock`` move it); statuses
    settle against it on every request, so tests move it instead of sleeping.
    ``event_sink`` receives the webhook events (default: a `RecordingSink`).
    Routes sit at ``/v1/...`` as on ``api.multimail.dev``; ``app.state.multimail_sandbox``
    is the `MultiMailControl` (see `control` for it and the ``/sandbox`` routes).

    Example::

        app = create_multimail_app(db_path="mm.db", clock=SandboxClock())
        seed = app.state.multimail_sandbox.seed
        # serve it, then: MultiMailClient(api_key=seed.keys["send"], base_url=url)
    """
    settings = settings or MultiMailSandboxSettings()
    store = Store(db_path)
    postbox = Postbox(store, clock, settings, event_sink or RecordingSink())
    ctx = Context(store, clock, settings, postbox, RequestCounters())
    sandbox = control.MultiMailControl(ctx, ensure_seed(store, clock(), settings))

    async def health(ctx: Context, request: Request) -> Response:
        return ok({"status": "ok"})

    routes: list[Route] = [
        open_route(ctx, "GET", "/health", health, counted=False),
        *routes_mail.routes(ctx),
        *routes_inbox.routes(ctx),
        *routes_oversight.routes(ctx),
        *routes_mailboxes.routes(ctx),
        *routes_account.routes(ctx),
        *routes_signup.routes(ctx),
        *routes_challenge.routes(ctx),
        *routes_spam.routes(ctx),
        *routes_billing.routes(ctx),
        *routes_contacts.routes(ctx),
        *routes_webhooks.routes(ctx),
        *routes_public.routes(ctx),
        *routes_absent.routes(ctx),
        *control.routes(ctx, sandbox),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error},
        lifespan=_settler(sandbox, settings.settle_interval),
    )
    app.state.multimail_sandbox = sandbox
    return app


def _settler(
    sandbox: control.MultiMailControl, interval: float | None
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """A lifespan that settles due emails every ``interval`` seconds, so held sends raise
    ``oversight.pending`` even when nobody asks (only when the server runs the app's
    lifespan; a mounted app relies on requests or `MultiMailControl.settle`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if interval is None:
            yield
            return

        async def tick() -> None:
            while True:
                await asyncio.sleep(interval)
                sandbox.settle()

        task = asyncio.create_task(tick())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in MultiMail's shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = "Not found" if status == 404 else f"Method {request.method} not allowed here"
    return ApiError(status, message).response()
