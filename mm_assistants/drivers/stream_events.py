"""What a streaming `ResponsesDriver` tells its ``on_event`` callback, and the pure reading
of OpenAI's Responses stream events into them (`TurnReader`). No I/O.

Every event is a small frozen value; ``raw`` holds the SDK event it came from (``None``
for events the driver makes itself: tool outputs, approval waits, retries), for callers
who need more than the library shows::

    def show(event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            print(event.text, end="", flush=True)
        elif isinstance(event, AwaitingApproval):
            print(f"\\n[held for approval: {event.email_id}]")

    ResponsesDriver(OpenAI(), dispatcher, stream=True, on_event=show).run(...)

The order within one turn: `TurnStarted`, then `TextDelta` and `ToolCallStarted` /
`ToolCallArgumentsDone` as the model writes, then `TurnCompleted`; after it, while the
turn's calls are carried out, `AwaitingApproval` (a held send's wait begins) and one
`ToolOutputReady` per call. `TurnRetried` says the stream broke before the turn ended and
the turn is requested again: text shown since its `TurnStarted` is void.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AwaitingApproval",
    "StreamEvent",
    "TextDelta",
    "ToolCallArgumentsDone",
    "ToolCallStarted",
    "ToolOutputReady",
    "TurnCompleted",
    "TurnReader",
    "TurnRetried",
    "TurnStarted",
]


@dataclass(frozen=True)
class StreamEvent:
    """The base of every event; ``raw`` is the SDK event behind it, if any."""

    raw: Any = field(default=None, kw_only=True, repr=False, compare=False)


@dataclass(frozen=True)
class TurnStarted(StreamEvent):
    """OpenAI opened the response ``response_id`` (one model turn)."""

    response_id: str


@dataclass(frozen=True)
class TextDelta(StreamEvent):
    """A piece of the model's text, as it arrives."""

    text: str


@dataclass(frozen=True)
class ToolCallStarted(StreamEvent):
    """The model began a function call; its arguments are still being written."""

    call_id: str
    name: str


@dataclass(frozen=True)
class ToolCallArgumentsDone(StreamEvent):
    """A function call's arguments are complete (it runs once the turn ends)."""

    call_id: str
    name: str


@dataclass(frozen=True)
class TurnCompleted(StreamEvent):
    """The response ended: ``status`` is ``completed``, ``failed`` or ``incomplete``."""

    response_id: str
    status: str


@dataclass(frozen=True)
class AwaitingApproval(StreamEvent):
    """The send of call ``call_id`` is held for a human; the wait for ``email_id`` began."""

    call_id: str
    email_id: str


@dataclass(frozen=True)
class ToolOutputReady(StreamEvent):
    """Call ``call_id`` was carried out; ``ok`` is False for a refusal or an API error."""

    call_id: str
    name: str
    ok: bool


@dataclass(frozen=True)
class TurnRetried(StreamEvent):
    """The stream broke before the turn ended (``reason``); the turn is requested again
    (``attempt`` counts from 1). No call of the broken turn was carried out."""

    attempt: int
    reason: str


_FINAL = {
    "response.completed": "completed",
    "response.failed": "failed",
    "response.incomplete": "incomplete",
}


class TurnReader:
    """Reads one turn's SDK stream events: `read` gives the library's events for each, and
    ``response`` is the final response (the terminal event carries the whole object, the
    same a non-streamed request returns), ``None`` until the stream ended properly.
    ``error`` is the payload of an ``error`` event, if one came; ``response_id`` the id
    ``response.created`` named, and ``text`` the text pieces read so far."""

    def __init__(self) -> None:
        self.response: Any = None
        self.error: Any = None
        self.response_id: str | None = None
        self.text: list[str] = []
        self._calls: dict[str, tuple[str, str]] = {}  # item id -> (call id, name)

    def read(self, raw: Any) -> list[StreamEvent]:
        """The events ``raw`` (one SDK stream event) stands for, in order."""
        kind = getattr(raw, "type", None)
        if kind == "response.created":
            self.response_id = str(raw.response.id)
            return [TurnStarted(self.response_id, raw=raw)]
        if kind == "response.output_text.delta":
            if not raw.delta:
                return []
            self.text.append(str(raw.delta))
            return [TextDelta(str(raw.delta), raw=raw)]
        if kind == "response.output_item.added" and getattr(raw.item, "type", None) == (
            "function_call"
        ):
            call = (str(raw.item.call_id), str(raw.item.name))
            self._calls[str(raw.item.id)] = call
            return [ToolCallStarted(*call, raw=raw)]
        if kind == "response.function_call_arguments.done":
            known = self._calls.get(str(raw.item_id))
            return [] if known is None else [ToolCallArgumentsDone(*known, raw=raw)]
        if kind in _FINAL:
            self.response = raw.response
            return [TurnCompleted(str(raw.response.id), _FINAL[kind], raw=raw)]
        if kind == "error":
            self.error = raw
        return []
