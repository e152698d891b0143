"""The plumbing every route shares: context, request counting, errors, headers.

`route` wraps a handler so that it is counted (for the benchmarks' per-route and per-run
request counts), its `ApiError` becomes OpenAI's error body, every answer gets an
``x-request-id``, and run and response answers get ``openai-poll-after-ms`` when set.
"""

from __future__ import annotations

import collections
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mm_assistants.sandbox.openai_api.errors import ApiError, bad_request
from mm_assistants.sandbox.openai_api.objects import new_id
from mm_assistants.sandbox.openai_api.runs import RunEngine
from mm_assistants.sandbox.openai_api.settings import LiveSettings
from mm_assistants.sandbox.openai_api.store import Store

POLL_AFTER_HEADER = "openai-poll-after-ms"


class Counters:
    """Requests per route (``"POST /threads/{thread_id}/runs"``) and per run id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: collections.Counter[str] = collections.Counter()
        self._runs: collections.Counter[str] = collections.Counter()

    def count(self, route: str, run_id: str | None = None) -> None:
        """Count one request to ``route`` (and to ``run_id`` when it names a run)."""
        with self._lock:
            self._routes[route] += 1
            if run_id:
                self._runs[run_id] += 1

    def attribute(self, run_id: str) -> None:
        """Count the request that created ``run_id`` towards that run."""
        with self._lock:
            self._runs[run_id] += 1

    def snapshot(self, *, reset: bool = False) -> dict[str, Any]:
        """``{"total", "routes", "runs"}``; with ``reset``, start counting afresh."""
        with self._lock:
            answer = {
                "total": sum(self._routes.values()),
                "routes": dict(sorted(self._routes.items())),
                "runs": dict(sorted(self._runs.items())),
            }
            if reset:
                self._routes.clear()
                self._runs.clear()
            return answer


@dataclass
class Context:
    """What the handlers share: storage, clock, settings, the run engine, the counters."""

    store: Store
    clock: Callable[[], float]
    live: LiveSettings
    runs: RunEngine
    counters: Counters

    def now(self) -> int:
        """The clock in whole seconds, as the API's timestamps are."""
        return int(self.clock())


Handler = Callable[[Context, Request], Awaitable[Response]]


def route(
    ctx: Context,
    method: str,
    path: str,
    handler: Handler,
    *,
    counted: bool = True,
    polled: bool = False,
) -> Route:
    """A Starlette route for ``handler`` with the shared behaviour (module docstring)."""
    key = f"{method} {path}"

    async def endpoint(request: Request) -> Response:
        if counted:
            ctx.counters.count(key, request.path_params.get("run_id"))
        try:
            response = await handler(ctx, request)
        except ApiError as exc:
            response = exc.response()
        response.headers["x-request-id"] = new_id("req_")
        poll_after = ctx.live.current.poll_after_ms
        if polled and poll_after is not None:
            response.headers[POLL_AFTER_HEADER] = str(poll_after)
        return response

    return Route(path, endpoint, methods=[method], name=key)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty body)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise bad_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)"
        ) from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def ok(doc: Any, status: int = 200) -> JSONResponse:
    """A JSON answer."""
    return JSONResponse(doc, status_code=status)


def path(request: Request, name: str) -> str:
    """A path parameter as text."""
    return str(request.path_params[name])
