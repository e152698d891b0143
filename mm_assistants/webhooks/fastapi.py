"""A FastAPI router that receives MultiMail webhooks (needs ``fastapi`` installed).

Example::

    from fastapi import FastAPI
    from mm_assistants.webhooks import AsyncWebhookReceiver
    from mm_assistants.webhooks.fastapi import webhook_router

    app = FastAPI()
    receiver = AsyncWebhookReceiver(os.environ["MULTIMAIL_WEBHOOK_SECRET"], hub=hub, router=router)
    app.include_router(webhook_router(receiver))   # POST /multimail/webhooks

The endpoint verifies and parses the delivery, answers at once (see
`mm_assistants.webhooks.http` for the statuses), and handles the event in a background task
after the answer is sent. A `WebhookReceiver` (blocking) is handled in FastAPI's thread pool.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse

from mm_assistants.webhooks.http import (
    DEFAULT_PATH,
    Answer,
    accept_answer,
    refused_size,
    too_large,
)


def webhook_router(receiver: Any, *, path: str = DEFAULT_PATH, **router_options: Any) -> APIRouter:
    """An ``APIRouter`` with one ``POST path`` endpoint fed to ``receiver``."""
    router = APIRouter(**router_options)

    @router.post(path, include_in_schema=False)
    async def multimail_webhook(request: Request, background: BackgroundTasks) -> JSONResponse:
        answer = await _answer(receiver, request)
        if answer.event is not None:
            background.add_task(receiver.handle, answer.event)
        return JSONResponse(answer.body, status_code=answer.status)

    return router


async def _answer(receiver: Any, request: Request) -> Answer:
    early = too_large(request.headers, receiver.max_body)
    if early is not None:
        return early
    body = await _read_capped(request, receiver.max_body)
    if body is None:
        return refused_size(receiver.max_body)
    return accept_answer(receiver, body, request.headers)


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
