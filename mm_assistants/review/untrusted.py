"""`printable`: the one sanitizer for untrusted text shown to a person, pure.

Everything in an email, and everything a model or a server answers, is untrusted. Shown
raw, it can steer whoever reads it:

- on a terminal, an escape sequence (``ESC [2K ESC [1A``: erase the line, go up one) can
  overwrite the ``to:`` line a reviewer is about to approve, an OSC 8 sequence can hide a
  link's target, and a carriage return can redraw a line;
- anywhere, bidi overrides and isolates (U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C)
  reorder what is displayed (``invoice\\u202etxt.exe`` reads as ``invoiceexe.txt``), and
  zero-width characters (U+200B-U+200D, U+2060, U+FEFF) or tag characters hide text.

`printable` shows each such character as its Python escape (``\\x1b``, ``\\u202e``) rather
than dropping it, so a reviewer sees that something was there and the rest of a sequence
(``[2K``) is left as harmless text. Example::

    printable("Hi\\x1b[2K\\u202eevil")        # 'Hi\\\\x1b[2K\\\\u202eevil'
    printable("line 1\\nline 2", multiline=True)   # newlines stay in a body

The CLI (`mm_assistants.cli`) passes every untrusted string through it, and the review
queue's rows (`mm_assistants.review.queue.clean`) are made of it, so the web page's JSON
carries no steering character either.
"""

from __future__ import annotations

import re
import unicodedata

#: Unicode categories that are never shown as themselves: controls (C0, C1, DEL), format
#: characters (bidi marks, zero-width and tag characters), lone surrogates (they cannot
#: even be encoded for a terminal), unassigned code points (tomorrow's format
#: characters), and the line and paragraph separators some renderers break lines on.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})
#: What a tab becomes: columns of spaces, so no cursor jump depends on the terminal.
TAB = "    "


def printable(text: str, *, multiline: bool = False) -> str:
    """``text`` with every steering character shown as its escape (module docstring).

    Tabs become four spaces. Newlines stay only when ``multiline`` (a body printed line by
    line); otherwise they show as ``\\n``, so a subject cannot forge a header line below
    it. A carriage return always shows as ``\\r``.
    """
    return _NOT_ASCII.sub(lambda run: _safe_run(run.group(), multiline), text)


# Printable ASCII is safe as it is; only runs of anything else are looked at, one
# character at a time, so ordinary text costs one regex scan.
_NOT_ASCII = re.compile(r"[^ -~]+")


def _safe_run(run: str, multiline: bool) -> str:
    return "".join(
        _shown(char, multiline) if unicodedata.category(char) in _HIDDEN else char for char in run
    )


def _shown(char: str, multiline: bool) -> str:
    if char == "\t":
        return TAB
    if char == "\n" and multiline:
        return char
    # the escape a Python repr would use: \x1b, \u202e, \U000e0041
    return char.encode("unicode_escape", "backslashreplace").decode("ascii")
