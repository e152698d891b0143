"""`FakeOpenAI` whose ``POST /responses`` also streams (``stream: true``): the same scripted
response replayed as OpenAI's events (the emulator's own event builder), with stream cuts
on request: a turn in ``cuts`` sends part of its events and then breaks the connection
(``httpx2.ReadError``), or just ends (``"end"``), and the next request replays the turn."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2

from mm_assistants.sandbox.openai_api.responses_stream import events
from tests.drivers.fake_openai import FakeOpenAI


class _CutStream(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """Bytes, then a broken connection (or, with ``error=None``, a clean early end)."""

    def __init__(self, data: bytes, error: Exception | None) -> None:
        self.data = data
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield self.data
        if self.error is not None:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data
        if self.error is not None:
            raise self.error


class StreamingFakeOpenAI(FakeOpenAI):
    """The fake server; ``cuts`` maps a turn number to how its first stream breaks:
    ``("error", n)`` after n events a ``ReadError``, ``("end", n)`` after n events the end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cuts: dict[int, tuple[str, int]] = {}
        self.streamed = 0
        self.error_event_on: int | None = None
        #: Turns whose stream breaks after n events while the response still completes
        #: server-side (kept, and retrievable): a lost connection, not a lost turn.
        self.drops: dict[int, int] = {}
        #: Turns whose stream breaks right after all its events (the terminal one included).
        self.break_after_end: set[int] = set()
        self.stored: dict[str, dict[str, Any]] = {}
        self.retrieved: list[str] = []
        self._conversations: dict[str, str] = {}  # conversation -> its last response

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.removeprefix("/v1")
        if request.method == "GET" and path.startswith("/responses/"):
            self.requests.append((request.method, path))
            response_id = path.removeprefix("/responses/")
            self.retrieved.append(response_id)
            if response_id not in self.stored:
                return httpx2.Response(404, json={"error": {"message": "no such response"}})
            return httpx2.Response(200, json=self.stored[response_id])
        return super().handle(request)

    def _responses(self, body: dict[str, Any], request: Any) -> httpx2.Response:
        conversation = body.get("conversation")
        if isinstance(conversation, str):  # the outputs answer the conversation's last turn
            body = {**body, "previous_response_id": self._conversations.get(conversation)}
        answer = super()._responses(body, request)
        if not body.get("stream") or answer.status_code != 200:
            return answer
        self.streamed += 1
        response = json.loads(answer.content)
        self.stored[response["id"]] = response
        if isinstance(conversation, str):
            self._conversations[conversation] = response["id"]
        all_events = events(response, chunk=4)
        dropped = self.drops.pop(self.turn, None)
        if dropped is not None or self.turn in self.break_after_end:
            self.break_after_end.discard(self.turn)
            count = len(all_events) if dropped is None else dropped
            data = _sse(all_events[:count]).encode()
            return httpx2.Response(
                200,
                stream=_CutStream(data, httpx2.ReadError("connection reset")),
                headers={"content-type": "text/event-stream"},
            )
        if self.error_event_on == self.turn:
            all_events = [
                *all_events[:2],
                {
                    "type": "error",
                    "message": "overloaded",
                    "code": "server_error",
                    "sequence_number": 2,
                },
            ]
        cut = self.cuts.pop(self.turn, None)
        if cut is not None:
            self.turn -= 1  # the next request replays this turn
            how, count = cut
            data = _sse(all_events[:count]).encode()
            error = httpx2.ReadError("connection reset") if how == "error" else None
            return httpx2.Response(
                200, stream=_CutStream(data, error), headers={"content-type": "text/event-stream"}
            )
        return httpx2.Response(
            200, text=_sse(all_events), headers={"content-type": "text/event-stream"}
        )


def _sse(all_events: list[dict[str, Any]]) -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in all_events)
