import io
import json

import pytest

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
            "rejected (reason: too early), after 0 ms of waiting",
            id="rejected",
        ),
        pytest.param(
            result({}, approval=ApprovalOutcome("em_1", "pending")),
            "still waiting for a human at the deadline, after 0 ms of waiting",
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
    text = out.getvalue()
    assert text.startswith("\rwaiting 1.0 s\rwaiting 2 s  ")
    assert text.endswith("\rdecided\n")
