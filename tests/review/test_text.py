"""The review queue as terminal text."""

from __future__ import annotations

from rich.cells import cell_len

from mm_assistants.review.queue import pending_row
from mm_assistants.review.text import render_decision, render_message, render_table
from tests.review.test_queue import HELD, NOW


def test_the_table_lines_up_its_columns_under_the_headings() -> None:
    other = {**HELD, "id": "em_22", "to": ["x@example.com"], "subject": "Hi", "cc": []}
    table = render_table([pending_row(HELD, NOW), pending_row(other, NOW)])
    lines = table.splitlines()
    assert lines[0].split() == ["ID", "AGE", "MAILBOX", "TO", "SUBJECT", "FIRST", "LINES"]
    assert lines[1].startswith("em_1 ")
    assert lines[2].startswith("em_22 ")
    for heading in ("AGE", "MAILBOX", "TO", "SUBJECT", "FIRST LINES"):
        column = lines[0].index(heading)
        assert lines[1][column - 2 : column] == "  "  # every cell starts in its column
        assert lines[2][column - 2 : column] == "  "
    assert "bob@example.com, carol@example.com" in lines[1]
    assert "Hi Bob, / the numbers are in." in lines[1]
    assert lines[-1] == "2 emails wait for a decision."


def test_long_cells_are_cut_but_ids_never() -> None:
    long_id = "em_" + "a" * 60
    row = pending_row({**HELD, "id": long_id, "subject": "S" * 100}, NOW)
    table = render_table([row])
    assert long_id in table
    assert "S" * 39 + "…" in table
    assert "S" * 41 not in table
    assert table.endswith("1 email waits for a decision.")


def test_an_empty_queue_is_a_sentence() -> None:
    assert render_table([]) == "No emails wait for a decision."


def test_a_message_is_shown_in_full() -> None:
    shown = render_message(pending_row(HELD, NOW))
    head, body = shown.split("\n\n", 1)
    assert "id:        em_1" in head
    assert "to:        bob@example.com, carol@example.com" in head
    assert "cc:        dan@example.com" in head
    assert "subject:   Quarterly numbers" in head
    assert f"waiting:   3m (since {HELD['created_at']})" in head
    assert body == HELD["body_markdown"].replace("\t", "    ")


def test_an_empty_message_says_so_and_skips_empty_headers() -> None:
    shown = render_message(pending_row({"id": "em_9"}, NOW))
    assert "cc:" not in shown
    assert shown.endswith("\n\n(no body)")


def test_a_decision_reads_as_a_sentence() -> None:
    assert render_decision("em_1", "approve", {"status": "approved_and_sent"}) == (
        "approved em_1: approved_and_sent"
    )
    assert render_decision("em_1", "reject", {}) == "rejected em_1"


def test_wide_glyphs_keep_the_columns_aligned() -> None:
    # a CJK subject and an hourglass take two columns each: counted as one, every cell
    # after them in the row started early
    wide = {**HELD, "id": "em_2", "subject": "会議の件 ⏳", "cc": []}
    narrow = {**HELD, "id": "em_3", "subject": "Hi", "cc": []}
    lines = render_table([pending_row(wide, NOW), pending_row(narrow, NOW)]).splitlines()
    starts = {cell_len(line[: line.index("Hi Bob,")]) for line in lines[1:3]}
    assert len(starts) == 1, lines
    assert cell_len(lines[0][: lines[0].index("FIRST LINES")]) in starts


def test_rich_markup_in_a_cell_prints_literally() -> None:
    subject = "[bold red]URGENT[/] [link=https://e.v]"
    table = render_table([pending_row({**HELD, "subject": subject}, NOW)])
    assert subject in table


def test_a_terminal_width_fits_the_table_but_never_cuts_an_id() -> None:
    long_id = "em_" + "a" * 30
    row = pending_row({**HELD, "id": long_id, "subject": "S" * 40}, NOW)
    lines = render_table([row], width=80).splitlines()
    assert all(cell_len(line) <= 80 for line in lines)
    assert long_id in lines[1]
