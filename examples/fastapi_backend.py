"""A small FastAPI backend that embeds the dispatcher, for a tool loop that lives elsewhere.

``POST /tool-calls`` takes one model turn as JSON: a Responses ``response`` (its
``output``) or a Chat Completions assistant ``message`` (its ``tool_calls``). It carries
out the calls against MultiMail concurrently and answers ``{"outputs": [...]}`` in that
API's shape, ready for the next model request. Refusals and API errors are outputs for the
model, not HTTP errors; a held send answers at once with its pending status (a request
should not wait for a human). ``GET /health`` answers ``{"status": "ok"}``.

Reads ``MULTIMAIL_API_KEY``/``MULTIMAIL_API_URL`` and ``MULTIMAIL_MAILBOX_ID``::

    python examples/fastapi_backend.py --port 8000     # needs fastapi and uvicorn
    curl -s localhost:8000/tool-calls -H 'content-type: application/json' -d '{"output":
      [{"type": "function_call", "call_id": "c1", "name": "check_inbox", "arguments": "{}"}]}'
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from mm_assistants import (
    AsyncDispatcher,
    AsyncMultiMailClient,
    calls_from_chat_message,
    calls_from_response,
)


class ModelTurn(BaseModel):
    """A Responses ``response`` or a Chat assistant ``message``, as JSON."""

    id: str | None = None  # the response id: part of each send's idempotency key
    output: list[dict[str, Any]] | None = None  # Responses
    tool_calls: list[dict[str, Any]] | None = None  # Chat Completions


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncMultiMailClient() as client:
        mailbox_id = os.environ.get("MULTIMAIL_MAILBOX_ID")
        if not mailbox_id:
            raise RuntimeError("set MULTIMAIL_MAILBOX_ID: the one mailbox the model may use")
        # The mailbox is the model's scope: a call naming any other is refused unsent.
        app.state.dispatcher = AsyncDispatcher(client, profile="agent", mailbox_id=mailbox_id)
        yield


app = FastAPI(title="MultiMail tools", lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/tool-calls")
async def tool_calls(turn: ModelTurn, request: Request) -> dict[str, list[dict[str, str]]]:
    dispatcher: AsyncDispatcher = request.app.state.dispatcher
    if turn.output is not None:
        results = await dispatcher.dispatch_many(calls_from_response(turn.model_dump()))
        return {"outputs": [result.to_responses() for result in results]}
    if turn.tool_calls is not None:
        results = await dispatcher.dispatch_many(calls_from_chat_message(turn.model_dump()))
        return {"outputs": [result.to_chat() for result in results]}
    raise HTTPException(422, "send a Responses turn ('output') or a Chat message ('tool_calls')")


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the MultiMail tool backend.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port)
