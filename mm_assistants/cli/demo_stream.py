"""``mm-assistants demo --api responses --mode stream``: the streaming driver's events told
as they come. The model's words are written piece by piece (flushed each time, so a pipe
sees them as they arrive); each call the model asks for is a line as soon as its arguments
are complete, and a broken stream's retry is one too. The dispatcher's own narration
(``→ call``, ``✓ result``, the held send's wait) stays as in the other tellings.
"""

from __future__ import annotations

from rich.text import Text

from mm_assistants.cli.console import Console
from mm_assistants.drivers.stream_events import (
    StreamEvent,
    TextDelta,
    ToolCallArgumentsDone,
    TurnCompleted,
    TurnRetried,
)
from mm_assistants.review.untrusted import printable

#: Where the model's streamed words begin, like the closing summary's lines.
SPEAKER = "  assistant ▸ "


class StreamPrinter:
    """The ``on_event`` callback of the demo's `ResponsesDriver`; ``shown`` is True once
    the model's words were written (the summary then does not repeat them)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.shown = False
        self._in_text = False

    def __call__(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self._piece(event.text)
        elif isinstance(event, TurnCompleted):
            self._end_text()
        elif isinstance(event, ToolCallArgumentsDone):
            self.console.line(f"  · the model asks for {event.name} ({event.call_id})")
        elif isinstance(event, TurnRetried):
            self._end_text()
            self.console.line(f"  ↻ the stream broke ({event.reason}); asking the model again")

    def _piece(self, text: str) -> None:
        # the model's words are untrusted: printable, and each new line indented
        shown = printable(text, multiline=True).replace("\n", "\n" + " " * len(SPEAKER))
        if not self._in_text:
            self.console.clear_status()
            self.console.line()
            shown = SPEAKER + shown
            self._in_text = True
            self.shown = True
        self.console.rich.print(Text(shown), end="")
        self.console.rich.file.flush()

    def _end_text(self) -> None:
        if self._in_text:
            self.console.rich.print()
            self._in_text = False
