"""Runs and run steps: ``/threads/{thread_id}/runs/...`` and ``/threads/runs``.

Create and submit answer JSON, or an SSE stream with ``"stream": true``. The lifecycle
rules live in `runs.RunEngine`; these handlers only read requests and shape answers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.openai_api import objects, validation
from mm_assistants.sandbox.openai_api.errors import not_found
from mm_assistants.sandbox.openai_api.routes_assistants import new_thread
from mm_assistants.sandbox.openai_api.routing import Context, json_body, ok, path, route
from mm_assistants.sandbox.openai_api.sse import stream_run
from mm_assistants.sandbox.openai_api.store import public

_RUN = "/threads/{thread_id}/runs/{run_id}"


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        route(ctx, "POST", "/threads/runs", create_thread_and_run, polled=True),
        route(ctx, "POST", "/threads/{thread_id}/runs", create_run, polled=True),
        route(ctx, "GET", "/threads/{thread_id}/runs", list_runs, polled=True),
        route(ctx, "GET", _RUN, get_run, polled=True),
        route(ctx, "POST", f"{_RUN}/cancel", cancel_run, polled=True),
        route(ctx, "POST", f"{_RUN}/submit_tool_outputs", submit_tool_outputs, polled=True),
        route(ctx, "GET", f"{_RUN}/steps", list_steps),
        route(ctx, "GET", f"{_RUN}/steps/{{step_id}}", get_step),
    ]


async def create_run(ctx: Context, request: Request) -> Response:
    """``POST /threads/{thread_id}/runs``."""
    thread_id = path(request, "thread_id")
    body = await json_body(request)
    stream = validation.optional_bool(body, "stream", False)
    run, events = ctx.runs.create(thread_id, body)
    ctx.counters.attribute(run["id"])
    if stream:
        return stream_run(ctx.runs, thread_id, run["id"], events)
    return ok(run)


async def create_thread_and_run(ctx: Context, request: Request) -> Response:
    """``POST /threads/runs``: a new thread (from ``thread``) and a run on it."""
    body = await json_body(request)
    stream = validation.optional_bool(body, "stream", False)
    with ctx.store.transaction():  # a refused run leaves no orphan thread behind
        spec = body.get("thread")
        thread = new_thread(ctx, {} if spec is None else spec, "thread")
        run, events = ctx.runs.create(thread["id"], body)
    ctx.counters.attribute(run["id"])
    if stream:
        opening = [("thread.created", public(thread)), *events]
        return stream_run(ctx.runs, thread["id"], run["id"], opening)
    return ok(run)


async def list_runs(ctx: Context, request: Request) -> Response:
    """``GET /threads/{thread_id}/runs``."""
    return ok(ctx.runs.page(path(request, "thread_id"), request.query_params))


async def get_run(ctx: Context, request: Request) -> Response:
    """``GET /threads/{thread_id}/runs/{run_id}``, settled to the clock."""
    run, _ = ctx.runs.get(path(request, "thread_id"), path(request, "run_id"))
    return ok(run)


async def cancel_run(ctx: Context, request: Request) -> Response:
    """``POST .../cancel``."""
    return ok(ctx.runs.cancel(path(request, "thread_id"), path(request, "run_id")))


async def submit_tool_outputs(ctx: Context, request: Request) -> Response:
    """``POST .../submit_tool_outputs``: all pending outputs in one request."""
    thread_id, run_id = path(request, "thread_id"), path(request, "run_id")
    body = await json_body(request)
    stream = validation.optional_bool(body, "stream", False)
    run, events = ctx.runs.submit(thread_id, run_id, body)
    if stream:
        return stream_run(ctx.runs, thread_id, run_id, events)
    return ok(run)


async def list_steps(ctx: Context, request: Request) -> Response:
    """``GET .../steps``."""
    run_id = path(request, "run_id")
    ctx.runs.get(path(request, "thread_id"), run_id)  # 404s and settles
    return ok(objects.page(ctx.store.children("steps", run_id), request.query_params))


async def get_step(ctx: Context, request: Request) -> Response:
    """``GET .../steps/{step_id}``."""
    run_id, step_id = path(request, "run_id"), path(request, "step_id")
    ctx.runs.get(path(request, "thread_id"), run_id)
    step = ctx.store.get("steps", step_id)
    if step is None or step["run_id"] != run_id:
        raise not_found("run step", step_id)
    return ok(public(step))
