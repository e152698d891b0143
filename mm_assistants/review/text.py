"""The review queue as terminal text, pure: the table of ``mm-assistants approvals list``,
one message in full for ``show``, and a decision's result.

Example::

    print(render_table(pending_rows(emails, now=time.time())))

    ID       AGE  MAILBOX  TO               SUBJECT            FIRST LINES
    em_7f2…  3m   mbx_1    bob@example.com  Quarterly numbers  Hi Bob, / the numbers are in.

Rows come from `mm_assistants.review.queue.pending_row`, whose text is already free of
control characters. The table is laid out by `rich`, which measures each cell by the
columns it takes on a terminal (a CJK character or an emoji takes two), and gets every
cell as `rich.text.Text`, so a subject such as ``[bold red]`` is shown as it is.
"""

from __future__ import annotations

import io
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
_VERBS = {"approve": "approved", "reject": "rejected"}
#: The width a table may take when none is given: wide enough never to cut a cell.
_UNBOUNDED = 10_000


def render_table(rows: Sequence[PendingRow], *, width: int | None = None) -> str:
    """The queue as an aligned table with a closing count line; a sentence when empty.

    ``width`` is the terminal's columns: wider cells are cut to fit (ids never). Without
    it (a pipe) no cell is cut beyond its column's limit, so the text is the same anywhere.
    """
    if not rows:
        return "No emails wait for a decision."
    # rich comes with the ``cli`` extra: imported here so the rest of this module (and the
    # review page) work without it
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    cells = [_cells(row) for row in rows]
    table = Table(box=None, pad_edge=False, padding=(0, 1), show_edge=False)
    for heading, widest in COLUMNS:
        if widest is None:  # an id: never cut, never wrapped
            longest = max(len(line[len(table.columns)]) for line in cells)
            table.add_column(heading, no_wrap=True, min_width=max(longest, len(heading)))
        else:
            table.add_column(heading, no_wrap=True, overflow="ellipsis", max_width=widest)
    for line in cells:
        table.add_row(*(Text(cell) for cell in line))
    out = io.StringIO()
    console = Console(
        file=out,
        width=width or _UNBOUNDED,
        color_system=None,
        force_terminal=False,
        markup=False,
        emoji=False,
        highlight=False,
    )
    console.print(table)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
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
