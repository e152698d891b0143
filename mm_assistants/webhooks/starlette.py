"""A Starlette endpoint that receives MultiMail webhooks (Starlette comes with the
``sandbox`` extra, and FastAPI is built on it: `mm_assistants.webhooks.fastapi` wraps this).

Example::

    from starlette.applications import Starlette
    from mm_assistants.webhooks.starlette import webhook_route

    app = Starlette(routes=[webhook_route(AsyncWebhookReceiver(secret, hub=hub, router=router))])

The endpoint verifies and parses the delivery, answers at once (statuses in
`mm_assistants.webhooks.http`), and handles the event in a background task that runs after
the answer is sent; a blocking `WebhookReceiver` is handled in Starlette's thread pool.
When the receiver's hub records decisions for a fleet (``shares_decisions``), the delivery
is also verified in the thread pool, because recording reaches a database: a slow or
unreachable one must not stall the event loop (and every other request on it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mm_assistants.webhooks.http import (
    DEFAULT_PATH,
    Answer,
    accept_answer,
    refused_size,
    too_large,
)

Endpoint = Callable[[Request], Awaitable[JSONResponse]]


def webhook_endpoint(receiver: Any) -> Endpoint:
    """An async endpoint ``(request) -> JSONResponse`` fed to ``receiver``."""

    async def multimail_webhook(request: Request) -> JSONResponse:
        answer = await answer_request(receiver, request)
        task = BackgroundTask(receiver.handle, answer.event) if answer.event is not None else None
        return JSONResponse(answer.body, status_code=answer.status, background=task)

    return multimail_webhook


def webhook_route(receiver: Any, path: str = DEFAULT_PATH) -> Route:
    """A ``POST path`` route with `webhook_endpoint`."""
    return Route(path, webhook_endpoint(receiver), methods=["POST"])


async def answer_request(receiver: Any, request: Request) -> Answer:
    """Read the body (no more than the cap) and decide the answer."""
    early = too_large(request.headers, receiver.max_body)
    if early is not None:
        return early
    body = await _read_capped(request, receiver.max_body)
    if body is None:
        return refused_size(receiver.max_body)
    if getattr(receiver, "shares_decisions", False):
        return await run_in_threadpool(accept_answer, receiver, body, request.headers)
    return accept_answer(receiver, body, request.headers)  # no I/O but the replay memory


async def _read_capped(request: Request, max_body: int) -> bytes | None:
    """The body, or ``None`` as soon as it grows past ``max_body`` (a lying or missing
    Content-Length cannot make the server buffer more)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
