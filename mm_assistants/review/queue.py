"""The review queue's decisions, pure: a held email as a row a person reads, how long it
has waited, and whether a decision is well formed. No I/O: the CLI, the web page and
their backends feed these with what ``GET /v1/oversight/pending`` answered.

Example::

    row = pending_row(email, now=time.time())
    row.recipients, row.subject, row.preview, row.age      # 'bob@example.com', ..., '3m'
    check_decision("reject", "  ")                           # ValueError: a reason is needed

Everything in an email is untrusted (the model or an outside sender wrote it): `clean`
shows the characters that could steer a terminal or reorder a line as escapes
(`mm_assistants.review.untrusted.printable`), and the web page only ever sets it as text.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mm_assistants.review.untrusted import printable

Action = Literal["approve", "reject"]
ACTIONS: tuple[Action, ...] = ("approve", "reject")
#: How many non-blank lines of the body a row shows.
PREVIEW_LINES = 2
#: Longest preview line, in characters.
PREVIEW_WIDTH = 120
#: Longest reason MultiMail is sent (a reason is a note, not a letter).
MAX_REASON = 1000
#: How many non-blank lines of the email a reply answers are shown beside the reply.
ORIGINAL_LINES = 4

_AGE_UNITS = ((86400, "d"), (3600, "h"), (60, "m"))


@dataclass(frozen=True)
class OriginalRow:
    """The email a held reply answers, as the reviewer sees it beside the reply: written
    by an outside sender, so untrusted (every field `clean`, on one line)."""

    id: str
    sender: str
    subject: str
    preview: tuple[str, ...]
    received_at: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (a row's ``original`` in ``api/pending``)."""
        return {
            "id": self.id,
            "from": self.sender,
            "subject": self.subject,
            "preview": list(self.preview),
            "received_at": self.received_at,
        }


def original_row(email: Mapping[str, Any]) -> OriginalRow:
    """The `OriginalRow` of an email record as ``read_email`` shows it."""
    body = clean(_text(email.get("markdown") or email.get("body_markdown")))
    stamp = email.get("received_at") or email.get("created_at")
    return OriginalRow(
        id=one_line(_text(email.get("id"))),
        sender=one_line(_text(email.get("from"))),
        subject=one_line(_text(email.get("subject"))),
        preview=first_lines(body, ORIGINAL_LINES),
        received_at=one_line(stamp) if isinstance(stamp, str) else None,
    )


@dataclass(frozen=True)
class PendingRow:
    """One held email as a reviewer sees it. Text fields are `clean`; ``age`` is ``"3m"``
    (``"?"`` when MultiMail gave no usable time) and ``age_seconds`` its number."""

    id: str
    mailbox_id: str
    direction: str
    status: str
    sender: str
    recipients: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    preview: tuple[str, ...] = field(repr=False)
    body: str = field(repr=False)
    age: str
    age_seconds: float | None
    created_at: str | None
    #: the email this one answers, when the backend could find it
    original: OriginalRow | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the web page's ``api/pending`` rows)."""
        return {
            "id": self.id,
            "mailbox_id": self.mailbox_id,
            "direction": self.direction,
            "status": self.status,
            "from": self.sender,
            "to": list(self.recipients),
            "cc": list(self.cc),
            "subject": self.subject,
            "preview": list(self.preview),
            "body": self.body,
            "age": self.age,
            "age_seconds": self.age_seconds,
            "created_at": self.created_at,
            "original": None if self.original is None else self.original.as_dict(),
        }


def pending_row(
    email: Mapping[str, Any], now: float, original: Mapping[str, Any] | None = None
) -> PendingRow:
    """The row of one record of ``GET /v1/oversight/pending`` at ``now`` (unix seconds),
    with ``original``, the record of the email it answers, when known.

    Missing or odd fields become empty text rather than errors: one malformed record must
    not hide the rest of the queue from a reviewer. Every field but the body is one line,
    so no field can forge another's line where the CLI prints them as headers.
    """
    body = clean(_text(email.get("body_markdown") or email.get("markdown")))
    stamp = email.get("created_at") or email.get("received_at")
    since = parse_time(stamp)
    waited = None if since is None else max(0.0, now - since)
    return PendingRow(
        id=one_line(_text(email.get("id"))),
        mailbox_id=one_line(_text(email.get("mailbox_id"))),
        direction=one_line(_text(email.get("direction"))),
        status=one_line(_text(email.get("status"))),
        sender=one_line(_text(email.get("from"))),
        recipients=_addresses(email.get("to")),
        cc=_addresses(email.get("cc")),
        subject=one_line(_text(email.get("subject"))),
        preview=first_lines(body),
        body=body,
        age="?" if waited is None else format_age(waited),
        age_seconds=waited,
        created_at=one_line(stamp) if isinstance(stamp, str) else None,
        original=original_row(original) if isinstance(original, Mapping) else None,
    )


def pending_rows(
    emails: Sequence[Mapping[str, Any]],
    now: float,
    originals: Mapping[str, Mapping[str, Any] | None] | None = None,
) -> list[PendingRow]:
    """`pending_row` of each record, oldest first (the order a queue is worked in);
    ``originals`` maps a held email's id to the record of the email it answers."""
    found = originals or {}
    rows = [
        pending_row(email, now, found.get(str(email.get("id"))))
        for email in emails
        if isinstance(email, Mapping)
    ]
    return sorted(rows, key=lambda row: -(row.age_seconds or 0.0))


def find_pending(emails: Sequence[Mapping[str, Any]], email_id: str) -> Mapping[str, Any] | None:
    """The record with id ``email_id``, or None (the API has no call for a single one)."""
    return next(
        (email for email in emails if isinstance(email, Mapping) and email.get("id") == email_id),
        None,
    )


def emails_of(answer: Any) -> list[Mapping[str, Any]]:
    """The records of a ``GET /v1/oversight/pending`` answer (``[]`` when it has none)."""
    emails = answer.get("emails") if isinstance(answer, Mapping) else None
    return [email for email in emails if isinstance(email, Mapping)] if emails else []


def check_decision(action: str, reason: str | None) -> tuple[Action, str | None]:
    """``(action, reason)`` made ready to send, or a ``ValueError`` saying what is wrong.

    A rejection needs a reason: it is what the assistant (and whoever asked it) reads.
    """
    if action not in ACTIONS:
        raise ValueError(f"action must be 'approve' or 'reject', not {action!r}")
    text = clean(reason or "").strip() or None
    if action == "reject" and text is None:
        raise ValueError("a rejection needs a reason: say what should change")
    if text is not None and len(text) > MAX_REASON:
        raise ValueError(f"the reason is longer than {MAX_REASON} characters")
    return ("approve" if action == "approve" else "reject"), text


def format_age(seconds: float) -> str:
    """How long something has waited, in its largest whole unit: ``"45s"``, ``"3m"``,
    ``"2h"``, ``"4d"``."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    for size, unit in _AGE_UNITS:
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def parse_time(value: Any) -> float | None:
    """Unix seconds of an ISO 8601 time (``2026-03-15T14:00:00.000Z``) or of a number
    (seconds, or milliseconds when it is that large); None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
        return number / 1000 if number > 1e11 else number  # 1e11 s is the year 5138
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"  # Python 3.10's fromisoformat does not read "Z"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def first_lines(
    body: str, count: int = PREVIEW_LINES, width: int = PREVIEW_WIDTH
) -> tuple[str, ...]:
    """The first ``count`` non-blank lines of ``body``, each on one line and shortened."""
    lines = (one_line(line) for line in body.splitlines())
    return tuple(shorten(line, width) for line in lines if line)[:count]


def clean(text: str) -> str:
    """``text`` safe to show: controls, escape sequences, bidi and zero-width characters
    shown as escapes, tabs as spaces; newlines stay (see `printable`)."""
    return printable(text, multiline=True)


def one_line(text: str) -> str:
    """``text`` `clean` and on a single line, runs of white space made one space."""
    return " ".join(clean(text).split())


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut shown by an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _addresses(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(address for address in (one_line(_text(v)) for v in value) if address)
