"""Fault injection and request counting for the sandbox, as plain ASGI middleware.

`SandboxMiddleware` wraps a Starlette app. Each HTTP request outside the skipped prefixes
(``/sandbox``, ``/health``) is counted under its route key (`counters.route_key`, e.g.
``"POST /v1/mailboxes/{mailbox_id}/send"``), faulted ones too, and meets the `FaultInjector`
rules for that key or ``"*"``. A rule's effects:

- ``latency``: sleep that many seconds first (several firing rules add up);
- ``status`` 429 or 5xx: answer ``{"error": "..."}`` with it, without calling the app, and
  ``Retry-After: <retry_after>`` if given (429 defaults to 1; fractions are kept for tests);
- ``commit_then_drop``: run the app to the end, so its change is committed, then drop the
  connection without an answer: the client sees a transport error and cannot tell whether
  the request took effect. Under uvicorn the connection's asyncio transport is aborted (the
  ``send`` callable is a method of uvicorn's request cycle, which holds it; an app that
  wraps ``send`` on the way in, as Starlette does, is served through `expose_connection`);
  where none is reachable (httpx's ``ASGITransport``, uvicorn's trace logging)
  `DroppedConnectionError` is raised instead, which a server answers with a 500.

The first firing rule with a ``status`` or ``commit_then_drop`` decides. A rule fires with
probability ``rate`` (own RNG, seeded by ``seed``) and, given ``next_n``, that many times.

HTTP control routes (`fault_routes`; mount them under the skipped ``/sandbox`` prefix):

- ``GET /sandbox/faults``: ``{"rules": [...]}``.
- ``POST /sandbox/faults`` with `FaultInjector.add`'s arguments, e.g. ``{"route": "*",
  "status": 503, "next_n": 2}``: 201 and the rule, or 400.
- ``DELETE /sandbox/faults``: every rule; ``DELETE /sandbox/faults/{rule_id}``: one (or 404).
- ``GET`` and ``DELETE /sandbox/counters``: see `counters`.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mm_assistants.sandbox.counters import RequestCounters as RequestCounters  # re-exported
from mm_assistants.sandbox.counters import counter_routes, relative_path, route_key


class DroppedConnectionError(RuntimeError):
    """A ``commit_then_drop`` fault could not reach the connection to abort it."""


#: The scope key under which `expose_connection` keeps the server's own ``send``.
SERVER_SEND = "mm_sandbox.server_send"


def expose_connection(app: ASGIApp) -> ASGIApp:
    """``app`` with the server's own ``send`` kept in the scope, so that a
    ``commit_then_drop`` deep inside (behind Starlette, which wraps ``send``) can still
    reach the connection to abort it."""

    async def exposed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SERVER_SEND] = send
        await app(scope, receive, send)

    return exposed


class Fault(NamedTuple):
    """What the firing rules ask of one request."""

    latency: float
    status: int | None
    retry_after: float | None
    drop: bool


@dataclass
class _Rule:
    id: str
    route: str
    latency: float
    status: int | None
    retry_after: float | None
    rate: float
    next_n: int | None
    commit_then_drop: bool
    seed: int | None
    remaining: int | None
    rng: random.Random
    hits: int = 0


class FaultInjector:
    """Thread-safe fault rules, keyed by route (``"POST /v1/emails/{id}"``) or ``"*"``.

    Example::

        faults = FaultInjector()
        faults.add("POST /v1/mailboxes/{mailbox_id}/send", status=503, next_n=2)
        faults.add("*", latency=0.05, rate=0.5, seed=7)
        faults.rules()   # [{"id": "flt_1", ...}, {"id": "flt_2", ...}]
        faults.clear()
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        with self._lock:
            return f"FaultInjector(rules={len(self._rules)})"

    def add(
        self,
        route: str,
        *,
        latency: float = 0.0,
        status: int | None = None,
        retry_after: float | None = None,
        rate: float = 1.0,
        next_n: int | None = None,
        commit_then_drop: bool = False,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Add a rule (module docstring) and answer it as a dict with an ``id``; a rule that
        cannot mean anything is a ``ValueError`` or ``TypeError``."""
        if not isinstance(route, str) or not route.strip():
            raise ValueError("route must be 'METHOD /path/template' or '*'")
        # bounds catch typos (a latency in ms); an hour of latency is never meant
        latency = _number("latency", latency, 3600.0)
        rate = _number("rate", rate, 1.0)
        if retry_after is not None:
            retry_after = _number("retry_after", retry_after, 86400.0)
        if status is not None and not (_is_int(status) and (status == 429 or status // 100 == 5)):
            raise ValueError("status must be 429 or 500-599")
        if status == 429 and retry_after is None:
            retry_after = 1.0
        if next_n is not None and (not _is_int(next_n) or next_n < 1):
            raise ValueError("next_n must be a positive integer")
        if not isinstance(commit_then_drop, bool) or not (seed is None or _is_int(seed)):
            raise TypeError("commit_then_drop must be a boolean and seed an integer")
        if status is not None and commit_then_drop:
            raise ValueError("a rule either answers a status or drops the connection, not both")
        if status is None and not commit_then_drop and latency == 0:
            raise ValueError("a rule needs latency, status or commit_then_drop")
        with self._lock:
            rule = _Rule(
                f"flt_{next(self._ids)}", route.strip(), latency, status, retry_after, rate,
                next_n, commit_then_drop, seed, remaining=next_n, rng=random.Random(seed),
            )  # fmt: skip
            self._rules.append(rule)
            return _view(rule)

    def rules(self) -> list[dict[str, Any]]:
        """The rules in force, oldest first (with ``hits`` and ``remaining`` so far)."""
        with self._lock:
            return [_view(rule) for rule in self._rules]

    def remove(self, rule_id: str) -> bool:
        """Remove one rule; whether it existed."""
        with self._lock:
            before = len(self._rules)
            self._rules = [rule for rule in self._rules if rule.id != rule_id]
            return len(self._rules) < before

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def decide(self, key: str) -> Fault | None:
        """What the rules do to one request with route key ``key`` (``None``: nothing).

        Each rule draws from its own RNG, so a seeded rule fires in the same pattern whatever
        other rules do."""
        latency, decider, fired = 0.0, None, False
        with self._lock:
            for rule in list(self._rules):
                if rule.route not in ("*", key):
                    continue
                if rule.rate < 1.0 and rule.rng.random() >= rule.rate:
                    continue
                fired, rule.hits = True, rule.hits + 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                latency += rule.latency
                if decider is None and (rule.status is not None or rule.commit_then_drop):
                    decider = rule
        if decider is not None:
            return Fault(latency, decider.status, decider.retry_after, decider.commit_then_drop)
        return Fault(latency, None, None, False) if fired else None


class SandboxMiddleware:
    """Counts requests and applies `FaultInjector`'s faults (module docstring).

    Example::

        app = SandboxMiddleware(starlette_app, FaultInjector(), RequestCounters())
    """

    def __init__(
        self,
        app: ASGIApp,
        injector: FaultInjector,
        counters: RequestCounters,
        skip_prefixes: Sequence[str] = ("/sandbox", "/health"),
    ) -> None:
        self.app = app
        self.injector = injector
        self.counters = counters
        self.skip_prefixes = tuple(prefix.rstrip("/") for prefix in skip_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call; only HTTP requests are counted and faulted."""
        if scope["type"] != "http" or self._skipped(relative_path(scope)):
            await self.app(scope, receive, send)
            return
        key = route_key(self.app, scope)
        self.counters.count(key)
        fault = self.injector.decide(key) or Fault(0.0, None, None, False)
        if fault.latency > 0:
            await anyio.sleep(fault.latency)
        if fault.status is not None:
            await _fault_response(fault.status, fault.retry_after)(scope, receive, send)
        elif fault.drop:
            await _commit_then_drop(self.app, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _skipped(self, path: str) -> bool:
        # whole segments only: "/sandbox" skips "/sandbox/faults", not "/sandboxes"
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.skip_prefixes)


FaultMiddleware = SandboxMiddleware  # another name for it


def _fault_response(status: int, retry_after: float | None) -> Response:
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    error = f"Sandbox fault injected: HTTP {status}."
    return JSONResponse({"error": error}, status_code=status, headers=headers)


async def _commit_then_drop(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    async def swallow(message: Message) -> None:
        pass  # the app's answer never leaves: the connection goes instead

    await app(scope, receive, swallow)
    server_send = scope.get(SERVER_SEND, send)
    transport = getattr(getattr(server_send, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    if not callable(abort):
        raise DroppedConnectionError("commit_then_drop: no connection transport to abort")
    abort()
    # wait for the server to notice, so it neither answers 500 nor logs a missing response
    with anyio.move_on_after(1.0):
        while (await receive())["type"] != "http.disconnect":
            pass


def fault_routes(injector: FaultInjector, counters: RequestCounters) -> list[Route]:
    """The ``/sandbox/faults`` and ``/sandbox/counters`` routes (module docstring)."""

    async def list_rules(request: Request) -> Response:
        return JSONResponse({"rules": injector.rules()})

    async def clear_rules(request: Request) -> Response:
        injector.clear()
        return JSONResponse({"rules": []})

    async def add_rule(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise TypeError("the body must be a JSON object of rule fields")
            rule = injector.add(**body)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(rule, status_code=201)

    async def remove_rule(request: Request) -> Response:
        rule_id = str(request.path_params["rule_id"])
        if not injector.remove(rule_id):
            return JSONResponse({"error": f"No fault rule {rule_id!r}."}, status_code=404)
        return JSONResponse({"id": rule_id, "deleted": True})

    return [
        Route("/sandbox/faults", list_rules, methods=["GET"]),
        Route("/sandbox/faults", add_rule, methods=["POST"]),
        Route("/sandbox/faults", clear_rules, methods=["DELETE"]),
        Route("/sandbox/faults/{rule_id}", remove_rule, methods=["DELETE"]),
        *counter_routes(counters),
    ]


def _view(rule: _Rule) -> dict[str, Any]:
    return {item.name: getattr(rule, item.name) for item in fields(rule) if item.name != "rng"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(name: str, value: Any, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number")
    if math.isnan(value) or not 0 <= value <= high:
        raise ValueError(f"{name} must be between 0 and {high:g}")
    return float(value)
