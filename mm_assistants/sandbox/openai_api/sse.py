"""Server-sent events for streamed runs, in the form the SDK's stream helpers parse.

Each event is ``event: <name>`` plus ``data: <json>``; the stream ends with ``event: done``
and ``data: [DONE]`` once the run reaches ``requires_action`` or a final status. Between
the opening events and the model's turn the stream waits the configured model latency in
real time (streams cannot shift a clock), then takes the turn.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable

from starlette.responses import StreamingResponse

from mm_assistants.sandbox.openai_api.errors import ApiError
from mm_assistants.sandbox.openai_api.runs import STREAM_ENDS, RunEngine
from mm_assistants.sandbox.openai_api.turns import Event

DONE = "event: done\ndata: [DONE]\n\n"
_MAX_PASSES = 4  # queued → in_progress → turn; a bound against a stuck run, never reached


def encode(name: str, data: object) -> str:
    """One SSE event."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def stream_run(
    engine: RunEngine, thread_id: str, run_id: str, opening: Iterable[Event]
) -> StreamingResponse:
    """The streamed answer for a run just created or given outputs."""
    return StreamingResponse(
        _follow(engine, thread_id, run_id, list(opening)),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


async def _follow(
    engine: RunEngine, thread_id: str, run_id: str, opening: list[Event]
) -> AsyncIterator[str]:
    for name, data in opening:
        yield encode(name, data)
    try:
        for _ in range(_MAX_PASSES):
            run, events = engine.get(thread_id, run_id)
            for name, data in events:
                yield encode(name, data)
            if run["status"] in STREAM_ENDS:
                break
            delay = engine.seconds_until_turn(run_id)
            if delay > 0:
                await asyncio.sleep(delay)
            run, events = engine.get(thread_id, run_id, force=True)
            for name, data in events:
                yield encode(name, data)
            if run["status"] in STREAM_ENDS:
                break
    except ApiError as exc:  # e.g. the thread was deleted while the stream was open
        yield encode("error", exc.body())
        return
    yield DONE
