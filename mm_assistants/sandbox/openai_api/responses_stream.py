"""``POST /responses`` with ``stream: true``: the finished response replayed as OpenAI's events.

The event sequence (each event's ``data`` carries its ``type`` and a ``sequence_number``
counting from 0; there is no ``data: [DONE]`` on Responses streams, the stream just ends)::

    response.created            the response, status in_progress, no output yet
    response.in_progress        the same
    for each output item (output_index 0, 1, ...):
      response.output_item.added        the item, status in_progress, empty
      message:       response.content_part.added       an empty output_text part
                     response.output_text.delta x n    pieces of text_chunk_chars
                     response.output_text.done         the whole text
                     response.content_part.done        the finished part
      function_call: response.function_call_arguments.delta x n
                     response.function_call_arguments.done
      response.output_item.done         the finished item
    response.completed | response.failed | response.incomplete   the whole final response

The scripted model decides the whole turn before the first event, and the response is
stored final at that moment: a client that reads only part of the stream, or disconnects,
leaves the same stored response a non-streamed request would have (``GET
/responses/{id}`` equals the final event's response). The model latency is spread over
the stream: the gaps before the first item and between deltas add up to ``model_latency``.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.responses import StreamingResponse

Event = dict[str, Any]  # {"type": ..., "sequence_number": ..., ...}
_FINAL = {"completed": "response.completed", "failed": "response.failed"}


def events(response: Any, chunk: int) -> list[Event]:
    """The stream events of the finished public ``response``, numbered from 0."""
    opening = copy.deepcopy(response)
    opening.update(
        status="in_progress", output=[], error=None, incomplete_details=None, completed_at=None
    )
    raw: list[Event] = [
        {"type": "response.created", "response": opening},
        {"type": "response.in_progress", "response": copy.deepcopy(opening)},
    ]
    for index, item in enumerate(response["output"]):
        raw += _item_events(index, item, chunk)
    final = _FINAL.get(response["status"], "response.incomplete")
    raw.append({"type": final, "response": copy.deepcopy(response)})
    return [{"type": e.pop("type"), "sequence_number": n, **e} for n, e in enumerate(raw)]


def _item_events(index: int, item: dict[str, Any], chunk: int) -> Iterator[Event]:
    where = {"output_index": index}
    if item["type"] == "function_call":
        yield {"type": "response.output_item.added", **where, "item": _started(item)}
        item_id = {"item_id": item["id"], **where}
        for piece in _pieces(item["arguments"], chunk):
            yield {"type": "response.function_call_arguments.delta", **item_id, "delta": piece}
        yield {
            "type": "response.function_call_arguments.done",
            **item_id,
            "arguments": item["arguments"],
        }
    else:
        yield {"type": "response.output_item.added", **where, "item": _started(item)}
        for part_index, part in enumerate(item["content"]):
            at = {"item_id": item["id"], **where, "content_index": part_index}
            empty = {**part, "text": ""}
            yield {"type": "response.content_part.added", **at, "part": empty}
            for piece in _pieces(part["text"], chunk):
                yield {"type": "response.output_text.delta", **at, "delta": piece, "logprobs": []}
            yield {"type": "response.output_text.done", **at, "text": part["text"], "logprobs": []}
            yield {"type": "response.content_part.done", **at, "part": copy.deepcopy(part)}
    yield {"type": "response.output_item.done", **where, "item": copy.deepcopy(item)}


def _started(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` as it looks when it is added: in progress, with nothing in it yet."""
    if item["type"] == "function_call":
        return {**item, "arguments": "", "status": "in_progress"}
    return {**item, "content": [], "status": "in_progress"}


def _pieces(text: str, chunk: int) -> list[str]:
    return [text[start : start + chunk] for start in range(0, len(text), chunk)]


def stream(response: Any, *, chunk: int, latency: float) -> StreamingResponse:
    """The SSE answer replaying ``response`` (already stored, see the module docstring)."""
    return StreamingResponse(
        _paced(events(response, chunk), latency),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache"},
    )


async def _paced(all_events: list[Event], latency: float) -> AsyncIterator[str]:
    # the pauses fall where a real model thinks: before each item and each delta
    pauses = {n for n, e in enumerate(all_events) if _pauses_before(e["type"])}
    gap = latency / len(pauses) if pauses else 0.0
    for number, event in enumerate(all_events):
        if gap and number in pauses:
            await asyncio.sleep(gap)
        # a disconnected client cancels this generator at an await: nothing to undo, the
        # response was stored before the first event
        data = json.dumps(event, separators=(",", ":"))
        yield f"event: {event['type']}\ndata: {data}\n\n"


def _pauses_before(kind: str) -> bool:
    return kind.endswith(".delta") or kind in (
        "response.output_item.added",
        "response.completed",
        "response.failed",
        "response.incomplete",
    )
