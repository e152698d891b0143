"""The review queue as terminal text, pure: the table of ``mm-assistants approvals list``,
one message in full for ``show``, and a decision's result.

Example::

    print(render_table(pending_rows(emails, now=time.time())))

    ID       AGE  MAILBOX  TO               SUBJECT            FIRST LINES
    em_7f2…  3m   mbx_1    bob@example.com  Quarterly numbers  Hi Bob, / the numbers are in.

Rows come from `mm_assistants.review.queue.pending_row`, whose text is already free of
control characters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mm_assistants.review.queue import PendingRow, shorten
from mm_assistants.review.untrusted import printable

#: (heading, widest cell) of each column; ids are never cut (the email's is what
#: ``approve`` takes), and the last column is not padded.
COLUMNS: tuple[tuple[str, int | None], ...] = (
    ("ID", None),
    ("AGE", 5),
    ("MAILBOX", None),
    ("TO", 40),
    ("SUBJECT", 40),
    ("FIRST LINES", 60),
)
_GAP = "  "
_VERBS = {"approve": "approved", "reject": "rejected"}


def render_table(rows: Sequence[PendingRow]) -> str:
    """The queue as an aligned table with a closing count line; a sentence when empty."""
    if not rows:
        return "No emails wait for a decision."
    cells = [_cells(row) for row in rows]
    headings = [heading for heading, _ in COLUMNS]
    widths = [
        max(len(heading), *(len(line[i]) for line in cells)) for i, heading in enumerate(headings)
    ]
    lines = [_join(headings, widths)]
    lines += [_join(line, widths) for line in cells]
    many = len(rows) != 1
    lines += ["", f"{len(rows)} {'emails wait' if many else 'email waits'} for a decision."]
    return "\n".join(lines)


def render_message(row: PendingRow) -> str:
    """One held email in full: its headers, a blank line, then the whole body."""
    fields = [
        ("id", row.id),
        ("status", row.status),
        ("mailbox", row.mailbox_id),
        ("direction", row.direction),
        ("from", row.sender),
        ("to", ", ".join(row.recipients)),
        ("cc", ", ".join(row.cc)),
        ("subject", row.subject),
        ("waiting", row.age + (f" (since {row.created_at})" if row.created_at else "")),
    ]
    width = max(len(name) for name, _ in fields) + 1
    lines = [f"{name + ':':<{width}} {value}" for name, value in fields if value]
    return "\n".join([*lines, "", row.body or "(no body)"])


def render_decision(email_id: str, action: str, answer: Mapping[str, Any]) -> str:
    """What a decision came to: ``approved em_1: approved_and_sent``. The id (typed by a
    person) and the status (MultiMail's answer) are shown `printable`."""
    verb = _VERBS.get(action, action)
    status = answer.get("status") if isinstance(answer, Mapping) else None
    shown = f"{verb} {email_id}" + (f": {status}" if status else "")
    return printable(shown)


def _cells(row: PendingRow) -> list[str]:
    values = (
        row.id,
        row.age,
        row.mailbox_id,
        ", ".join(row.recipients) or "-",
        row.subject or "(no subject)",
        " / ".join(row.preview) or "(empty)",
    )
    return [
        value if width is None else shorten(value, width)
        for value, (_, width) in zip(values, COLUMNS, strict=True)
    ]


def _join(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [cell.ljust(width) for cell, width in zip(cells[:-1], widths[:-1], strict=True)]
    return _GAP.join([*padded, cells[-1]]).rstrip()
