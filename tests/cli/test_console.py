import io
import json
import re

import pytest
from rich.cells import cell_len

from mm_assistants.approvals import ApprovalOutcome
from mm_assistants.cli.console import Console, describe_arguments, describe_result
from mm_assistants.dispatch import ToolCall, ToolResult


def result(output: object, **fields: object) -> ToolResult:
    defaults: dict[str, object] = {"call_id": "call_1", "name": "check_inbox", "ok": True}
    defaults.update(fields)
    return ToolResult(output=json.dumps(output), **defaults)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "shown"),
    [
        pytest.param('{"email_id": "em_1", "cc": null}', 'email_id="em_1"', id="nulls-hidden"),
        pytest.param(
            '{"limit": 5, "direction": "inbound"}', 'limit=5, direction="inbound"', id="two"
        ),
        pytest.param("not json", "not json", id="raw-text"),
        pytest.param("[1, 2]", "[1, 2]", id="not-an-object"),
    ],
)
def test_arguments_show_what_was_set(arguments: str, shown: str) -> None:
    assert describe_arguments(arguments) == shown


def test_long_arguments_are_shortened_to_one_line() -> None:
    text = describe_arguments(json.dumps({"markdown": "word " * 40}))
    assert text.endswith("…")
    assert len(text) < 70
    assert "\n" not in text


@pytest.mark.parametrize(
    ("tool_result", "phrase"),
    [
        pytest.param(result({"emails": [{}, {}]}), "2 emails", id="inbox"),
        pytest.param(result({"emails": [{}]}), "1 email", id="one-email"),
        pytest.param(result({"status": "pending_scan"}), "status pending_scan", id="status"),
        pytest.param(result({"subject": "Hi"}), 'subject "Hi"', id="subject"),
        pytest.param(result([1]), "ok", id="other"),
        pytest.param(
            result(
                {"error": {"type": "invalid_arguments", "message": "to is required"}},
                ok=False,
                error_type="invalid_arguments",
            ),
            "invalid_arguments: to is required",
            id="error",
        ),
        pytest.param(
            result(
                {},
                approval=ApprovalOutcome(
                    "em_1", "approved", approved_by="op@x.example", waited=2.5
                ),
            ),
            "approved by op@x.example and sent, after 2.5 s of waiting",
            id="approved",
        ),
        pytest.param(
            result({}, approval=ApprovalOutcome("em_1", "rejected", reason="too early")),
            "rejected by the reviewer, not sent (reason: too early), after 0 ms of waiting",
            id="rejected",
        ),
        pytest.param(
            result({}, approval=ApprovalOutcome("em_1", "pending")),
            "still waiting for a human at the deadline, not sent, after 0 ms of waiting",
            id="pending",
        ),
    ],
)
def test_results_read_as_one_phrase(tool_result: ToolResult, phrase: str) -> None:
    assert describe_result(tool_result) == phrase


def test_a_pipe_gets_whole_lines_and_no_redraws() -> None:
    out = io.StringIO()
    console = Console(out, live=False)
    console.status("waiting 1 s")
    console.call_started(ToolCall(id="c", name="read_email", arguments='{"email_id": "em_9"}'))
    console.call_finished(result({"subject": "Hi"}, name="read_email", duration=0.012))
    assert out.getvalue() == (
        '  → read_email(email_id="em_9")\n  ✓ read_email: subject "Hi" (12 ms)\n'
    )


def test_a_terminal_status_line_is_redrawn_and_cleared_before_a_line() -> None:
    out = io.StringIO()
    console = Console(out, live=True)
    console.status("waiting 1.0 s")
    console.status("waiting 2 s")
    console.line("decided")
    console.clear_status()
    screen = terminal_screen(out.getvalue())
    assert screen == ["decided"]


def test_a_wide_glyph_in_the_status_line_leaves_no_stray_character() -> None:
    # the hourglass takes two columns: counted as one, the clear left the last "s" behind,
    # to show up at the end of the box header printed next
    out = io.StringIO()
    console = Console(out, live=True)
    console.status("  ⏳ em_1 waits for a human: 17.0 s · deadline in 103 s")
    console.line("  ┌ held for your review: em_1")
    console.clear_status()
    assert terminal_screen(out.getvalue()) == ["  ┌ held for your review: em_1"]


@pytest.mark.parametrize("live", [pytest.param(False, id="pipe"), pytest.param(True, id="tty")])
def test_rich_markup_in_untrusted_text_prints_literally(live: bool) -> None:
    out = io.StringIO()
    console = Console(out, live=live)
    subject = "[bold red]URGENT[/] [link=https://evil.example]click[/link] :smile:"
    console.line(f"  inbound    {subject}")
    console.clear_status()
    assert terminal_screen(out.getvalue()) == [f"  inbound    {subject}"]
    assert "\x1b]8;" not in out.getvalue()  # no hyperlink was made


def test_a_rejected_send_is_not_marked_done() -> None:
    out = io.StringIO()
    rejected = ApprovalOutcome("em_1", "rejected", reason="not yet", waited=17.0)
    Console(out, live=False).call_finished(
        result({}, name="reply_email", approval=rejected, duration=0.004)
    )
    assert out.getvalue() == (
        "  ✗ reply_email: rejected by the reviewer, not sent (reason: not yet), "
        "after 17.0 s of waiting (4 ms)\n"
    )


def terminal_screen(written: str) -> list[str]:
    """What a terminal shows after ``written``: a tiny emulator of the few controls rich
    and the old console used (CR, LF, erase line, cursor up, cursor shown/hidden), with
    wide glyphs taking two columns."""
    rows: list[list[str]] = [[]]
    row = col = 0
    controls = re.compile(r"\x1b\[(\?25[lh]|2K|1A|\d*m)")
    at = 0
    while at < len(written):
        match = controls.match(written, at)
        if match:
            code = match.group(1)
            if code == "2K":
                rows[row] = []
            elif code == "1A":
                row = max(0, row - 1)
            at = match.end()
            continue
        char = written[at]
        at += 1
        if char == "\r":
            col = 0
        elif char == "\n":
            row, col = row + 1, 0
            while len(rows) <= row:
                rows.append([])
        else:
            line = rows[row]
            width = cell_len(char)
            while len(line) < col + width:
                line.append(" ")
            line[col] = char
            if width == 2:
                line[col + 1] = ""
            col += width
    shown = ["".join(line).rstrip() for line in rows]
    while shown and not shown[-1]:
        shown.pop()
    return shown
