"""Untrusted text that tries to steer whoever reads it: shared by the printers' tests."""

from __future__ import annotations

#: An ANSI "erase line, cursor up" (to overwrite the ``to:`` line above), an OSC 8
#: hyperlink hiding its target, a right-to-left override and a zero-width space.
HOSTILE = (
    "Invoice \x1b[2K\x1b[1Ato: boss@corp.example "
    "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\ "
    "\u202etxt.exe\u200b \x9b31m end"
)
#: What must never reach a terminal or the page raw.
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u200b", "\u2066", "\ufeff")


def raw_in(text: str) -> list[str]:
    """The steering characters of `RAW` found in ``text`` (``[]``: none)."""
    return [char for char in RAW if char in text]
