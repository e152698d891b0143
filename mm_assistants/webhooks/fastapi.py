"""A FastAPI router that receives MultiMail webhooks (needs ``fastapi`` installed).

Example::

    from fastapi import FastAPI
    from mm_assistants.webhooks import AsyncWebhookReceiver
    from mm_assistants.webhooks.fastapi import webhook_router

    app = FastAPI()
    receiver = AsyncWebhookReceiver(os.environ["MULTIMAIL_WEBHOOK_SECRET"], hub=hub, router=router)
    app.include_router(webhook_router(receiver))   # POST /multimail/webhooks

The endpoint is `mm_assistants.webhooks.starlette.webhook_endpoint`: it verifies and parses
the delivery, answers at once (statuses in `mm_assistants.webhooks.http`) and handles the
event in a background task after the answer is sent. A blocking `WebhookReceiver` is
handled in FastAPI's thread pool, and so is the verification when the receiver's hub
records decisions for a fleet (a database write must not stall the event loop).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mm_assistants.webhooks.http import DEFAULT_PATH
from mm_assistants.webhooks.starlette import webhook_endpoint


def webhook_router(receiver: Any, *, path: str = DEFAULT_PATH, **router_options: Any) -> APIRouter:
    """An ``APIRouter`` with one ``POST path`` endpoint fed to ``receiver``."""
    router = APIRouter(**router_options)
    router.add_route(path, webhook_endpoint(receiver), methods=["POST"], include_in_schema=False)
    return router
