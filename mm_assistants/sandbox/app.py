"""`create_sandbox_app`: both halves of the sandbox as one ASGI application.

Layout of the paths it serves:

- ``GET /health``: ``{"status": "ok"}`` once everything is built.
- ``/review/``: the review page for people (`mm_assistants.review.create_review_app`) over
  the seeded tenant's queue, deciding as its operator (`SandboxReviewBackend`).
- ``/openai/v1/...``: the OpenAI-compatible emulator (`mm_assistants.sandbox.openai_api`).
- everything else: the MultiMail-compatible server (`mm_assistants.sandbox.multimail_api`)
  with its ``/sandbox/...`` controls, behind the fault injector and request counters
  (`mm_assistants.sandbox.faults`); webhooks leave through a `WebhookOutbox`.

The controls (``/sandbox/...``, ``/openai/v1/_emulator/...``) sit behind a `ControlGuard`:
a loopback Host, the per-start control token and JSON bodies (see
`mm_assistants.sandbox.control_guard`); the review page checks its Host and token itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Mount, Route

from mm_assistants.review import origin
from mm_assistants.review.app import create_review_app
from mm_assistants.review.origin import new_token
from mm_assistants.sandbox.clock import SandboxClock
from mm_assistants.sandbox.control_guard import TOKEN_HEADER, ControlGuard
from mm_assistants.sandbox.faults import (
    FaultInjector,
    RequestCounters,
    SandboxMiddleware,
    fault_routes,
)
from mm_assistants.sandbox.multimail_api import (
    MultiMailControl,
    MultiMailSandboxSettings,
    create_multimail_app,
)
from mm_assistants.sandbox.multimail_api.outbox import WebhookOutbox
from mm_assistants.sandbox.openai_api import (
    EmulatorControl,
    OpenAIEmulatorSettings,
    create_openai_app,
)
from mm_assistants.sandbox.review import SandboxReviewBackend

OPENAI_PREFIX = "/openai/v1"
REVIEW_PREFIX = "/review"


@dataclass
class SandboxApp:
    """The served application and the handles that steer it. ``control_token`` opens the
    HTTP controls (`control_headers`); it is left out of the repr."""

    asgi: Starlette
    multimail: MultiMailControl
    openai: EmulatorControl
    faults: FaultInjector
    counters: RequestCounters
    outbox: WebhookOutbox
    control_token: str = field(repr=False)

    @property
    def control_headers(self) -> dict[str, str]:
        """The header every HTTP control request carries: ``{"X-Sandbox-Token": ...}``."""
        return {TOKEN_HEADER: self.control_token}

    def close(self) -> None:
        """Stop webhook deliveries and close the databases."""
        self.outbox.close()
        self.multimail.close()
        self.openai.close()


def create_sandbox_app(
    *,
    db_path: str,
    clock: SandboxClock,
    multimail_settings: MultiMailSandboxSettings | None = None,
    openai_settings: OpenAIEmulatorSettings | None = None,
    webhook_retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0),
    control_token: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
) -> SandboxApp:
    """Build both halves on one SQLite file and one clock; start the webhook outbox.

    ``control_token`` opens the HTTP controls (default: a fresh random one, so each start
    has its own); ``allowed_hosts`` are the names the controls and the review page answer
    to (default: ``localhost``, ``127.0.0.1``, ``[::1]``).
    """
    hosts = origin.allowed_hosts(allowed_hosts)
    token = control_token if control_token is not None else new_token()
    outbox = WebhookOutbox(db_path, clock=clock, retry_delays=webhook_retry_delays)
    multimail_app = create_multimail_app(
        db_path=db_path, clock=clock, settings=multimail_settings, event_sink=outbox
    )
    openai_app = create_openai_app(db_path=db_path, clock=clock, settings=openai_settings)
    faults = FaultInjector()
    counters = RequestCounters()
    guarded = SandboxMiddleware(multimail_app, faults, counters)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def to_review(request: Request) -> RedirectResponse:
        # the MultiMail half's catch-all mount would answer "/review" with a 404
        return RedirectResponse(REVIEW_PREFIX + "/")

    control: MultiMailControl = multimail_app.state.multimail_sandbox
    review = create_review_app(
        SandboxReviewBackend(control), clock=clock, allowed_hosts=hosts, sandbox=True
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # a mounted app's lifespan does not run by itself: the MultiMail half's settler
        # (which raises oversight.pending while nobody asks) lives in it
        async with multimail_app.router.lifespan_context(multimail_app):
            yield

    asgi = Starlette(
        lifespan=lifespan,
        # one guard in front of every control, whichever half serves it
        middleware=[Middleware(ControlGuard, token=token, hosts=hosts)],
        routes=[
            Route("/health", health, methods=["GET"]),
            *fault_routes(faults, counters),
            Mount(OPENAI_PREFIX, app=openai_app),
            Route(REVIEW_PREFIX, to_review, methods=["GET"]),
            Mount(REVIEW_PREFIX, app=review),
            Mount("", app=guarded),
        ],
    )
    outbox.start()
    return SandboxApp(
        asgi=asgi,
        multimail=control,
        openai=openai_app.state.openai_emulator,
        faults=faults,
        counters=counters,
        outbox=outbox,
        control_token=token,
    )
