"""``POST /responses`` (plain or streamed) and ``GET``/``DELETE /responses/{response_id}``.

A response created with ``store: false``, or older than ``response_retention_seconds``,
cannot be retrieved (404) nor continued (``previous_response_id``: 400
``previous_response_not_found``), as at OpenAI.

The script comes from ``metadata["script"]``, else a model named ``scripted:<name>``, else
the script of the response continued (by ``previous_response_id``, or found from the
input items, see `history`), else the default. The model's latency is waited in real
time, since the answer is synchronous; a stream spreads it over its events (see
`responses_stream`). ``background: true`` is refused with a 400.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.openai_api import (
    history,
    objects,
    responses,
    responses_stream,
    validation,
)
from mm_assistants.sandbox.openai_api.errors import ApiError, bad_request
from mm_assistants.sandbox.openai_api.model import Progress, decide, script_name
from mm_assistants.sandbox.openai_api.routing import Context, json_body, ok, path, route
from mm_assistants.sandbox.openai_api.store import Doc, public


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        route(ctx, "POST", "/responses", create_response, polled=True),
        route(ctx, "GET", "/responses/{response_id}", get_response, polled=True),
        route(ctx, "DELETE", "/responses/{response_id}", delete_response),
    ]


async def create_response(ctx: Context, request: Request) -> Response:
    """``POST /responses``: one model turn of the conversation (streamed on request)."""
    body = await json_body(request)
    if validation.optional_bool(body, "background", False):
        raise bad_request(
            "The emulator does not support 'background: true' on /responses; "
            "send the request without it (optionally with 'stream: true').",
            param="background",
        )
    streamed = validation.optional_bool(body, "stream", False)
    doc = _answer(ctx, body)
    settings = ctx.live.current
    if doc["store"]:  # OpenAI keeps no unstored response: it cannot be fetched or continued
        with ctx.store.transaction():
            ctx.store.put("responses", doc)
            for item in doc["output"]:
                key = history.item_key(item)
                if key:
                    index = {"id": key, "response": doc["id"]}
                    ctx.store.put("response_items", index, parent=doc["id"])
    if streamed:  # stored before the first event: see `responses_stream`
        return responses_stream.stream(
            public(doc), chunk=settings.text_chunk_chars, latency=settings.model_latency
        )
    if settings.model_latency:
        await asyncio.sleep(settings.model_latency)
    return ok(public(doc))


def _answer(ctx: Context, body: dict[str, Any]) -> Doc:
    """The finished response document (with its bookkeeping) for a create request."""
    model = validation.required_str(body, "model")
    tools = validation.tools(body.get("tools"), flat=True)
    metadata = validation.metadata(body.get("metadata"))
    previous = _previous(ctx, body.get("previous_response_id"))
    past: list[Any] = previous["_conversation"] if previous else []
    new_items = responses.input_items(body.get("input"))
    responses.check_outputs(past, new_items)
    if previous is not None:
        point = history.ResumePoint(
            Progress.load(previous["_progress"]), int(previous["_turns"]), previous
        )
    else:
        point = history.resume_point(new_items, lambda key: _producer(ctx, key))
    settings = ctx.live.current
    fallback = point.source["_script"] if point.source else settings.default_script
    name = script_name([metadata], [model], fallback)
    script = ctx.live.script(name)
    if script is None:
        raise bad_request(
            f"Unknown script '{name}'. Known scripts: {ctx.live.script_names()}.", param="model"
        )
    conversation = [*past, *new_items]
    state = responses.conversation_state(
        conversation,
        turn=point.turns,
        instructions=body.get("instructions"),
        tools=validation.function_names(tools, flat=True),
        metadata=metadata,
    )
    progress = point.progress
    parallel = validation.optional_bool(body, "parallel_tool_calls", True)
    declared = state.tools if settings.require_declared_tools else None
    decision = decide(script, state, progress, parallel=parallel, declared=declared)
    output, produced = responses.output_items(decision)
    now = ctx.now()
    return {
        "id": objects.new_id("resp_"),
        "object": "response",
        "created_at": now,
        "model": model,
        "output": output,
        **responses.outcome_fields(decision),
        "completed_at": now if decision.kind in ("say", "calls") else None,
        "instructions": body.get("instructions"),
        "metadata": metadata,
        "parallel_tool_calls": parallel,
        "previous_response_id": previous["id"] if previous else None,
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": tools,
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "max_output_tokens": body.get("max_output_tokens"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "truncation": body.get("truncation") or "disabled",
        "store": validation.optional_bool(body, "store", True),
        "background": False,
        "usage": _usage(),
        "_conversation": [*conversation, *produced],
        "_progress": progress.dump(),
        "_turns": point.turns + 1,
        "_script": name,
    }


async def get_response(ctx: Context, request: Request) -> Response:
    """``GET /responses/{response_id}``."""
    return ok(public(_stored(ctx, path(request, "response_id"))))


async def delete_response(ctx: Context, request: Request) -> Response:
    """``DELETE /responses/{response_id}``."""
    response_id = path(request, "response_id")
    _stored(ctx, response_id)
    ctx.store.delete("responses", response_id)
    return ok({"id": response_id, "object": "response", "deleted": True})


def _previous(ctx: Context, response_id: Any) -> Doc | None:
    if response_id is None:
        return None
    if not isinstance(response_id, str):
        raise bad_request("Invalid type for 'previous_response_id'.", param="previous_response_id")
    doc = _kept(ctx, ctx.store.get("responses", response_id))
    if doc is None:
        raise bad_request(
            f"Previous response with id '{response_id}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return doc


def _producer(ctx: Context, key: str) -> Doc | None:
    """The kept response that made the output item indexed under ``key``, if any."""
    index = ctx.store.get("response_items", key)
    return None if index is None else _kept(ctx, ctx.store.get("responses", index["response"]))


def _stored(ctx: Context, response_id: str) -> Doc:
    doc = _kept(ctx, ctx.store.get("responses", response_id))
    if doc is None:
        raise ApiError(404, f"Response with id '{response_id}' not found.")
    return doc


def _kept(ctx: Context, doc: Doc | None) -> Doc | None:
    """``doc`` unless it is older than the retention: then it is gone, as at OpenAI
    (``store=false`` responses are never stored at all, see `create_response`)."""
    if doc is None:
        return None
    retention = ctx.live.current.response_retention_seconds
    return None if ctx.now() - int(doc["created_at"]) > retention else doc


def _usage() -> dict[str, Any]:
    # the scripted model counts no tokens; zeros keep the SDK's usage model well-formed
    return {
        "input_tokens": 0,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 0,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 0,
    }
