"""Assistants, threads and messages: ``/assistants``, ``/threads``, ``/threads/{id}/messages``.

Messages cannot be added while a run of the thread is active (OpenAI's thread lock), and
listing messages settles the thread's runs first, so a message the model "wrote" since the
last request is there.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mm_assistants.sandbox.openai_api import objects, validation
from mm_assistants.sandbox.openai_api.errors import bad_request, invalid_type, not_found
from mm_assistants.sandbox.openai_api.routing import Context, json_body, ok, path, route
from mm_assistants.sandbox.openai_api.store import Doc, public

_ASSISTANT_FIELDS = (
    "name", "description", "model", "instructions", "tools", "tool_resources", "metadata",
    "temperature", "top_p", "response_format",
)  # fmt: skip


def routes(ctx: Context) -> list[Route]:
    """The routes of this module."""
    return [
        route(ctx, "POST", "/assistants", create_assistant),
        route(ctx, "GET", "/assistants", list_assistants),
        route(ctx, "GET", "/assistants/{assistant_id}", get_assistant),
        route(ctx, "POST", "/assistants/{assistant_id}", update_assistant),
        route(ctx, "DELETE", "/assistants/{assistant_id}", delete_assistant),
        route(ctx, "POST", "/threads", create_thread),
        route(ctx, "GET", "/threads/{thread_id}", get_thread),
        route(ctx, "POST", "/threads/{thread_id}", update_thread),
        route(ctx, "DELETE", "/threads/{thread_id}", delete_thread),
        route(ctx, "POST", "/threads/{thread_id}/messages", create_message),
        route(ctx, "GET", "/threads/{thread_id}/messages", list_messages),
        route(ctx, "GET", "/threads/{thread_id}/messages/{message_id}", get_message),
    ]


# -- assistants ------------------------------------------------------------------------


def _assistant_fields(body: dict[str, Any]) -> dict[str, Any]:
    fields = {key: body[key] for key in _ASSISTANT_FIELDS if key in body}
    if "tools" in fields:
        fields["tools"] = validation.tools(fields["tools"])
    if "metadata" in fields:
        fields["metadata"] = validation.metadata(fields["metadata"])
    if "model" in fields:
        fields["model"] = validation.required_str(fields, "model")
    return fields


async def create_assistant(ctx: Context, request: Request) -> Response:
    """``POST /assistants``."""
    body = await json_body(request)
    validation.required_str(body, "model")
    doc = objects.assistant(_assistant_fields(body), ctx.now())
    ctx.store.put("assistants", doc)
    return ok(doc)


async def list_assistants(ctx: Context, request: Request) -> Response:
    """``GET /assistants`` (newest first, cursor pages)."""
    return ok(objects.page(ctx.store.children("assistants"), request.query_params))


def _assistant(ctx: Context, assistant_id: str) -> Doc:
    doc = ctx.store.get("assistants", assistant_id)
    if doc is None:
        raise not_found("assistant", assistant_id)
    return doc


async def get_assistant(ctx: Context, request: Request) -> Response:
    """``GET /assistants/{assistant_id}``."""
    return ok(_assistant(ctx, path(request, "assistant_id")))


async def update_assistant(ctx: Context, request: Request) -> Response:
    """``POST /assistants/{assistant_id}``: change the fields given."""
    body = await json_body(request)
    with ctx.store.transaction():
        doc = _assistant(ctx, path(request, "assistant_id"))
        doc.update(_assistant_fields(body))
        ctx.store.put("assistants", doc)
    return ok(doc)


async def delete_assistant(ctx: Context, request: Request) -> Response:
    """``DELETE /assistants/{assistant_id}``."""
    assistant_id = path(request, "assistant_id")
    _assistant(ctx, assistant_id)
    ctx.store.delete("assistants", assistant_id)
    return ok({"id": assistant_id, "object": "assistant.deleted", "deleted": True})


# -- threads ---------------------------------------------------------------------------


def new_thread(ctx: Context, body: Any, param: str = "") -> Doc:
    """Create a thread and its initial messages from a ``{messages, metadata}`` body."""
    if not isinstance(body, dict):
        raise invalid_type(param or "thread", "an object")
    prefix = f"{param}." if param else ""
    metadata = validation.metadata(body.get("metadata"), f"{prefix}metadata")
    messages = body.get("messages")
    messages = [] if messages is None else messages
    if not isinstance(messages, list):
        raise invalid_type(f"{prefix}messages", "an array")
    with ctx.store.transaction():
        doc = objects.thread({**body, "metadata": metadata}, ctx.now())
        ctx.store.put("threads", doc)
        for index, spec in enumerate(messages):
            message = objects.user_message(doc["id"], spec, ctx.now(), f"{prefix}messages[{index}]")
            ctx.store.put("messages", message, parent=doc["id"])
    return doc


def thread_of(ctx: Context, thread_id: str) -> Doc:
    """The stored thread, or OpenAI's 404."""
    doc = ctx.store.get("threads", thread_id)
    if doc is None:
        raise not_found("thread", thread_id)
    return doc


async def create_thread(ctx: Context, request: Request) -> Response:
    """``POST /threads`` with optional ``messages`` and ``metadata``."""
    return ok(new_thread(ctx, await json_body(request)))


async def get_thread(ctx: Context, request: Request) -> Response:
    """``GET /threads/{thread_id}``."""
    return ok(thread_of(ctx, path(request, "thread_id")))


async def update_thread(ctx: Context, request: Request) -> Response:
    """``POST /threads/{thread_id}``: metadata and tool resources."""
    body = await json_body(request)
    with ctx.store.transaction():
        doc = thread_of(ctx, path(request, "thread_id"))
        if "metadata" in body:
            doc["metadata"] = validation.metadata(body["metadata"])
        if "tool_resources" in body:
            doc["tool_resources"] = body["tool_resources"] or {}
        ctx.store.put("threads", doc)
    return ok(doc)


async def delete_thread(ctx: Context, request: Request) -> Response:
    """``DELETE /threads/{thread_id}``, with its messages and runs."""
    thread_id = path(request, "thread_id")
    with ctx.store.transaction():
        thread_of(ctx, thread_id)
        for run in ctx.store.children("runs", thread_id):
            ctx.store.delete("runs", run["id"])  # and the run's steps
        ctx.store.delete("threads", thread_id)
    return ok({"id": thread_id, "object": "thread.deleted", "deleted": True})


# -- messages --------------------------------------------------------------------------


async def create_message(ctx: Context, request: Request) -> Response:
    """``POST /threads/{thread_id}/messages`` (400 while a run is active)."""
    thread_id = path(request, "thread_id")
    body = await json_body(request)
    with ctx.store.lock:
        thread_of(ctx, thread_id)
        active = ctx.runs.settle_thread(thread_id)
        if active is not None:
            raise bad_request(
                f"Can't add messages to {thread_id} while a run {active['id']} is active."
            )
        doc = objects.user_message(thread_id, body, ctx.now(), "message")
        ctx.store.put("messages", doc, parent=thread_id)
    return ok(doc)


async def list_messages(ctx: Context, request: Request) -> Response:
    """``GET /threads/{thread_id}/messages``, optionally only those of ``run_id``."""
    thread_id = path(request, "thread_id")
    with ctx.store.lock:
        thread_of(ctx, thread_id)
        ctx.runs.settle_thread(thread_id)
        docs = ctx.store.children("messages", thread_id)
    run_id = request.query_params.get("run_id")
    if run_id:
        docs = [doc for doc in docs if doc.get("run_id") == run_id]
    return ok(objects.page(docs, request.query_params))


async def get_message(ctx: Context, request: Request) -> Response:
    """``GET /threads/{thread_id}/messages/{message_id}``."""
    thread_id, message_id = path(request, "thread_id"), path(request, "message_id")
    ctx.runs.settle_thread(thread_id)
    doc = ctx.store.get("messages", message_id)
    if doc is None or doc["thread_id"] != thread_id:
        raise not_found("message", message_id)
    return ok(public(doc))
