"""`create_openai_app`: the emulator as one Starlette application."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mm_assistants.sandbox.openai_api import (
    control,
    routes_assistants,
    routes_responses,
    routes_runs,
)
from mm_assistants.sandbox.openai_api.errors import ApiError
from mm_assistants.sandbox.openai_api.routing import Context, Counters
from mm_assistants.sandbox.openai_api.runs import RunEngine
from mm_assistants.sandbox.openai_api.settings import LiveSettings, OpenAIEmulatorSettings
from mm_assistants.sandbox.openai_api.store import Store


def create_openai_app(
    *,
    db_path: str,
    clock: Callable[[], float],
    settings: OpenAIEmulatorSettings | None = None,
) -> Starlette:
    """An OpenAI-compatible server (Assistants and Responses) driven by scripted models.

    ``db_path`` is the SQLite file for the ``oai_*`` tables (created if missing; an app
    made again on the same file sees the same assistants, threads, runs and responses).
    ``clock`` returns unix seconds; runs are settled against it on every request, so a
    test moves it forward instead of sleeping. Routes sit at the app's root
    (``/assistants``, ``/threads/...``, ``/responses``); mount the app at ``/v1`` or
    ``/openai/v1`` and point the SDK's ``base_url`` there. ``app.state.openai_emulator``
    is the `EmulatorControl` (see `control` for it and the ``/_emulator`` routes).

    Example::

        app = create_openai_app(db_path="oai.db", clock=time.time)
        # serve it, then: openai.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:PORT")
    """
    store = Store(db_path)
    live = LiveSettings(settings or OpenAIEmulatorSettings())
    ctx = Context(store, clock, live, RunEngine(store, clock, live), Counters())
    app = Starlette(
        # runs first: "POST /threads/runs" must win over "POST /threads/{thread_id}"
        routes=[
            *routes_runs.routes(ctx),
            *routes_assistants.routes(ctx),
            *routes_responses.routes(ctx),
            *control.routes(ctx),
        ],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.openai_emulator = control.EmulatorControl(ctx)
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in OpenAI's shape (``Invalid URL (GET /nope)``)."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = f"Invalid URL ({request.method} {request.url.path})"
    if status == 405:
        message = f"Method not allowed ({request.method} {request.url.path})"
    return ApiError(status, message).response()
