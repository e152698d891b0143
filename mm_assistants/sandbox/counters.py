"""Route keys and request counts, for the benchmarks' per-route request counts.

A route key is ``"METHOD /path/template"``, e.g. ``"POST /v1/mailboxes/{mailbox_id}/send"``:
the path of the app's route that fully matches the request (through mounts), or the raw path
when none does. `faults.SandboxMiddleware` counts every request it does not skip under its
key, faulted ones included.

HTTP control routes (`counter_routes`, also part of `faults.fault_routes`):

- ``GET /sandbox/counters``: ``{"total": n, "routes": {key: n}}``.
- ``DELETE /sandbox/counters``: the same, and counting starts afresh.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Scope


class RequestCounters:
    """Thread-safe request counts per route key.

    Example::

        counters = RequestCounters()
        counters.count("GET /v1/mailboxes")
        counters.snapshot(reset=True)  # {"total": 1, "routes": {"GET /v1/mailboxes": 1}}
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: collections.Counter[str] = collections.Counter()

    def __repr__(self) -> str:
        with self._lock:
            return f"RequestCounters(total={sum(self._routes.values())})"

    def count(self, route_key: str) -> None:
        """Count one request to ``route_key``."""
        with self._lock:
            self._routes[route_key] += 1

    def snapshot(self, reset: bool = False) -> dict[str, Any]:
        """``{"total": n, "routes": {key: n}}`` (keys sorted); with ``reset``, start afresh."""
        with self._lock:
            answer = {
                "total": sum(self._routes.values()),
                "routes": dict(sorted(self._routes.items())),
            }
            if reset:
                self._routes.clear()
            return answer


def counter_routes(counters: RequestCounters) -> list[Route]:
    """``GET`` and ``DELETE /sandbox/counters`` (module docstring)."""

    async def get_counters(request: Request) -> Response:
        return JSONResponse(counters.snapshot())

    async def reset_counters(request: Request) -> Response:
        return JSONResponse(counters.snapshot(reset=True))

    return [
        Route("/sandbox/counters", get_counters, methods=["GET"]),
        Route("/sandbox/counters", reset_counters, methods=["DELETE"]),
    ]


def route_key(app: ASGIApp, scope: Scope) -> str:
    """The route key of an HTTP ``scope`` among the routes of ``app`` (module docstring).

    Example::

        route_key(app, scope)  # "GET /v1/mailboxes/{mailbox_id}/emails", or "GET /nowhere"
    """
    template = _template(_routes_of(app), scope, "")
    return f"{scope['method']} {template or relative_path(scope)}"


def relative_path(scope: Scope) -> str:
    """The path as the app routes it: below the scope's ``root_path``."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _routes_of(app: Any) -> list[BaseRoute]:
    # a Starlette app or Router has routes; look through wrapping middleware (``.app``) too
    for _ in range(8):
        routes = getattr(app, "routes", None)
        if isinstance(routes, list):
            return routes
        app = getattr(app, "app", None)
    return []


def _template(routes: list[BaseRoute], scope: Scope, prefix: str) -> str | None:
    for candidate in routes:
        match, child = candidate.matches(scope)
        if match is not Match.FULL:
            continue
        path = prefix + str(getattr(candidate, "path", ""))
        inner = getattr(candidate, "routes", None)
        if isinstance(inner, list):  # a Mount (or Host): its own routes complete the template
            return _template(inner, {**scope, **child}, path)
        return path
    return None
