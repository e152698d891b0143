"""What may fill a path placeholder: the plausible values of each kind (pure).

Percent-encoding keeps a value's ``/`` inside its segment, but not its meaning: ``.`` and
``..`` survive encoding unchanged and are then removed by URL normalisation (httpx, proxies,
servers), so ``tag_email {email_id: "..", key: ".."}`` once became
``DELETE /v1/mailboxes/mbx_1``. Every placeholder is therefore checked before it is encoded,
by the kind of value it names:

- ``id`` (mailbox, email, thread, contact, API key, webhook ids, and any placeholder not
  listed): ASCII letters, digits and ``_ - . : @ + = ~``, starting with a letter or digit,
  at most 200 characters. Generous for MultiMail's ids (``mbx_…``, ``em_…``, UUIDs) and
  never a dot segment, a slash or an escape.
- ``email_address`` (a suppressed address): ``local@domain`` without whitespace, control
  characters, slashes, backslashes or ``%``, nor a character NFKC folds into one.
- ``text`` (an attachment's file name, a tag key): free text, but never empty, never a
  control or invisible character, never a ``/``, ``\\`` or ``%``, and never a dot segment,
  even after Unicode compatibility folding (NFKC: U+FF0E FULLWIDTH FULL STOP and U+2024
  ONE DOT LEADER read as ``.``, U+FF05 FULLWIDTH PERCENT SIGN as ``%``, U+2100 ACCOUNT OF
  as ``a/c``) or percent-decoding (``%2e%2e``), since some server on the way may do
  either. A separator or an escape that survives only as a look-alike is still one to a
  server that folds it; MultiMail's own names never need them.

>>> path_value_problem("email_id", "em_1") is None
True
>>> path_value_problem("email_id", "..")
'is, or holds, a path segment that is blank or only dots (. or ..)'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Literal, TypeGuard
from urllib.parse import unquote

PathKind = Literal["id", "email_address", "text"]

#: The kind of each path parameter of the bundled tools. A placeholder not listed is an
#: ``id``, the strictest kind, so a new tool's parameter is checked without a new entry.
PATH_PARAMETER_KINDS: Mapping[str, PathKind] = {
    "mailbox_id": "id",
    "email_id": "id",
    "thread_id": "id",
    "contact_id": "id",
    "key_id": "id",
    "webhook_id": "id",
    "email_address": "email_address",
    "filename": "text",
    "key": "text",
}
MAX_ID_CHARS = 200
MAX_ADDRESS_CHARS = 254
MAX_TEXT_CHARS = 255

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+=~-]*", re.ASCII)
_SEPARATORS = re.compile(r"[/\\]")
_ADDRESS_FORBIDDEN = frozenset(" /\\%")
#: What a path segment never holds, read after NFKC folding (``\uff05`` is ``%``).
_FOLDED_FORBIDDEN = frozenset("/\\%")
_DOT_SEGMENT = "is, or holds, a path segment that is blank or only dots (. or ..)"
_ID_HINT = (
    "letters, digits and _-.:@+=~, starting with a letter or digit, "
    f"at most {MAX_ID_CHARS} characters"
)


def path_kind(name: str) -> PathKind:
    """The kind of value placeholder ``name`` takes (``id`` when it is not listed)."""
    return PATH_PARAMETER_KINDS.get(name, "id")


def path_value_problem(name: str, value: object) -> str | None:
    """Why ``value`` cannot fill the path placeholder ``name``, or ``None`` when it can.

    The answer completes a sentence that starts with the argument's name and never quotes
    the value (it may be long, invisible or hostile).
    """
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not value:
        return "is empty"
    if _dot_like(value):
        return _DOT_SEGMENT
    kind = path_kind(name)
    if kind == "id":
        return _id_problem(value)
    if kind == "email_address":
        return _address_problem(value)
    return _text_problem(value)


def is_plausible_id(value: object) -> TypeGuard[str]:
    """True when ``value`` has the shape of a MultiMail id (see the module docstring)."""
    return isinstance(value, str) and _id_problem(value) is None


def _id_problem(value: str) -> str | None:
    if len(value) > MAX_ID_CHARS:
        return f"is longer than {MAX_ID_CHARS} characters, which no id is"
    if _ID.fullmatch(value) is None:
        return f"is not an id: ids have {_ID_HINT}"
    return None


def _address_problem(value: str) -> str | None:
    if len(value) > MAX_ADDRESS_CHARS:
        return f"is longer than {MAX_ADDRESS_CHARS} characters, which no address is"
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return "is not an email address (local@domain)"
    folded = unicodedata.normalize("NFKC", value)
    if _has_unsafe_character(value) or any(c in _ADDRESS_FORBIDDEN for c in value + folded):
        return "is not an email address: it has spaces, control characters, / \\ or %"
    return None


def _text_problem(value: str) -> str | None:
    if len(value) > MAX_TEXT_CHARS:
        return f"is longer than {MAX_TEXT_CHARS} characters"
    if _has_unsafe_character(value):
        return "has control or invisible characters; give it exactly as listed"
    if any(c in _FOLDED_FORBIDDEN for c in unicodedata.normalize("NFKC", value)):
        return "has a / \\ or % (or a character that reads as one), which a path cannot hold"
    return None


def _has_unsafe_character(value: str) -> bool:
    # Category C holds controls, NUL, format (zero-width) characters, surrogates and
    # unassigned code points; Zl/Zp are line breaks. None belongs in a path segment.
    return any(
        unicodedata.category(char)[0] == "C"
        or unicodedata.category(char) in ("Zl", "Zp")
        or (char.isspace() and char != " ")
        for char in value
    )


def _dot_like(value: str) -> bool:
    """True when some reading of ``value`` holds an empty, blank or dots-only piece.

    The readings are the value itself, once and twice percent-decoded, each folded by
    NFKC (which turns look-alikes such as U+FF0E and U+2024 into ``.``), then split at
    ``/`` and ``\\``: the readings a decoding or normalising server might act on.
    """
    readings = {value, unquote(value)}
    readings.add(unquote(unquote(value)))
    for reading in readings:
        folded = unicodedata.normalize("NFKC", reading)
        for piece in _SEPARATORS.split(folded):
            stripped = piece.strip()
            if not stripped or not stripped.strip("."):
                return True
    return False
