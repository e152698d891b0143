"""The emulator's own controls: over HTTP under ``/_emulator``, and in Python.

HTTP routes (not part of OpenAI's API and not counted):

- ``GET /_emulator/settings``: the knobs in force and the script names.
- ``POST /_emulator/settings``: change knobs, e.g. ``{"poll_after_ms": 5}``,
  ``{"model_latency": 0.2}``, ``{"run_expiry_seconds": 60}``, ``{"default_script": "x"}``
  (also ``require_declared_tools``, ``text_chunk_chars``, ``tool_outputs_limit``;
  ``"poll_after_ms": null`` drops the header). Answers the new settings; 400 on a bad one.
- ``GET /_emulator/scripts``; ``POST /_emulator/scripts`` with ``{"name": ..., "turns":
  [...]}``: add or replace a data script (see `script`); 400 if it does not parse.
- ``GET /_emulator/counters``: ``{"total", "routes": {"POST /threads/{thread_id}/runs": n,
  ...}, "runs": {run_id: n}}``; ``DELETE /_emulator/counters`` answers the same and resets.

In Python, ``app.state.openai_emulator`` is an `EmulatorControl` with the same powers, plus
registering callable scripts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.openai_api.errors import bad_request
from mm_assistants.sandbox.openai_api.routing import Context, json_body, ok, route
from mm_assistants.sandbox.openai_api.script import Script, ScriptSource
from mm_assistants.sandbox.openai_api.settings import OpenAIEmulatorSettings


class EmulatorControl:
    """The running emulator's knobs, for the process that started it.

    Example::

        control = app.state.openai_emulator
        control.update(poll_after_ms=5, model_latency=0.0)
        control.register_script("greet", lambda state: {"say": "Hi!"})
        control.counters(reset=True)
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def settings(self) -> OpenAIEmulatorSettings:
        """The settings in force."""
        return self._ctx.live.current

    def update(self, **changes: Any) -> OpenAIEmulatorSettings:
        """Change knobs (see the module docstring); raises ``ValueError`` on a bad one."""
        return self._ctx.live.update(changes)

    def register_script(self, name: str, source: ScriptSource) -> Script:
        """Add or replace a script: data or a callable ``(ConversationState) -> turn``."""
        return self._ctx.live.register_script(name, source)

    def counters(self, *, reset: bool = False) -> dict[str, Any]:
        """Requests per route and per run since the last reset."""
        return self._ctx.counters.snapshot(reset=reset)

    def close(self) -> None:
        """Close the database connection (the app answers no more requests after this)."""
        self._ctx.store.close()


def routes(ctx: Context) -> list[Route]:
    """The ``/_emulator`` routes."""
    return [
        route(ctx, "GET", "/_emulator/settings", get_settings, counted=False),
        route(ctx, "POST", "/_emulator/settings", update_settings, counted=False),
        route(ctx, "GET", "/_emulator/scripts", list_scripts, counted=False),
        route(ctx, "POST", "/_emulator/scripts", register_script, counted=False),
        route(ctx, "GET", "/_emulator/counters", get_counters, counted=False),
        route(ctx, "DELETE", "/_emulator/counters", reset_counters, counted=False),
    ]


def settings_view(ctx: Context) -> dict[str, Any]:
    """The settings as JSON (scripts by name)."""
    current = ctx.live.current
    fields = {f.name: getattr(current, f.name) for f in dataclasses.fields(current)}
    fields["scripts"] = ctx.live.script_names()  # callables have no JSON form
    return fields


async def get_settings(ctx: Context, request: Request) -> Response:
    """``GET /_emulator/settings``."""
    return ok(settings_view(ctx))


async def update_settings(ctx: Context, request: Request) -> Response:
    """``POST /_emulator/settings``."""
    body = await json_body(request)
    try:
        ctx.live.update(body)
    except (ValueError, TypeError) as exc:
        raise bad_request(str(exc)) from exc
    return ok(settings_view(ctx))


async def list_scripts(ctx: Context, request: Request) -> Response:
    """``GET /_emulator/scripts``."""
    return ok({"scripts": ctx.live.script_names()})


async def register_script(ctx: Context, request: Request) -> Response:
    """``POST /_emulator/scripts`` with ``{"name", "turns"}``."""
    body = await json_body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request("A script needs a 'name'.", param="name")
    source: Mapping[str, Any] = {"turns": body.get("turns")}
    try:
        script = ctx.live.register_script(name, source)
    except ValueError as exc:
        raise bad_request(str(exc), param="turns") from exc
    return ok({"name": name, "slots": len(script.slots)}, status=201)


async def get_counters(ctx: Context, request: Request) -> Response:
    """``GET /_emulator/counters``."""
    return ok(ctx.counters.snapshot())


async def reset_counters(ctx: Context, request: Request) -> Response:
    """``DELETE /_emulator/counters``."""
    return ok(ctx.counters.snapshot(reset=True))
