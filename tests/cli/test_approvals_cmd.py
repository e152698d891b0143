"""``mm-assistants approvals`` end to end against the sandbox, with the seeded keys."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from mm_assistants.cli.main import main
from mm_assistants.review.backend import NO_OVERSIGHT_SCOPE
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox
from tests.review.conftest import hold, status_of


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {"multimail_settings": MultiMailSandboxSettings(scan_delay=0.0)}


@pytest.fixture(autouse=True)
def no_multimail_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # the developer's own settings must not leak into these tests
    monkeypatch.delenv("MULTIMAIL_API_KEY", raising=False)
    monkeypatch.delenv("MULTIMAIL_API_URL", raising=False)


def run(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], *argv: str, key: str = "oversight"
) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``mm-assistants approvals ARGV`` with a seeded key."""
    options = ["--api-key", sandbox.keys[key], "--base-url", sandbox.multimail_url]
    code = main(["approvals", *argv, *options])
    out, err = capsys.readouterr()
    for secret in sandbox.keys.values():
        assert secret not in out + err
    return code, out, err


def test_a_held_send_is_listed_approved_and_leaves_the_queue(
    mm_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    email_id = hold(mm_sandbox, subject="Quarterly numbers", to=("bob@example.com",))

    code, out, _ = run(mm_sandbox, capsys, "list")
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:4] == ["ID", "AGE", "MAILBOX", "TO"]
    assert row.split()[0] == email_id
    assert mm_sandbox.mailbox_id in row
    assert "bob@example.com" in row
    assert "Quarterly numbers" in row
    assert "Hi Bob, / the numbers are in." in row
    assert row.split()[1].endswith("s")  # held seconds ago
    assert "1 email waits for a decision." in out

    code, out, _ = run(mm_sandbox, capsys, "approve", email_id)
    assert (code, out) == (0, f"approved {email_id}: approved_and_sent\n")
    code, out, _ = run(mm_sandbox, capsys, "list")
    assert (code, out) == (0, "No emails wait for a decision.\n")
    delivered = [m["email_id"] for m in mm_sandbox.multimail.sent() if m["kind"] == "delivery"]
    assert delivered == [email_id]


def test_show_prints_one_held_email_in_full(
    mm_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    body = "Hi Bob,\n\nthe numbers are in.\n\nLine four\nLine five"
    email_id = hold(mm_sandbox, markdown=body, to=("bob@example.com", "carol@example.com"))
    code, out, _ = run(mm_sandbox, capsys, "show", email_id)
    assert code == 0
    head, shown_body = out.split("\n\n", 1)
    assert f"id:        {email_id}" in head
    assert "status:    pending_send_approval" in head
    assert "to:        bob@example.com, carol@example.com" in head
    assert "subject:   Quarterly numbers" in head
    assert shown_body.rstrip("\n") == body


def test_the_commands_print_json_on_request(
    mm_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    email_id = hold(mm_sandbox)
    code, out, _ = run(mm_sandbox, capsys, "list", "--json")
    assert code == 0
    [listed] = json.loads(out)["emails"]
    assert listed["id"] == email_id
    assert listed["body_markdown"] == "Hi Bob,\n\nthe numbers are in."
    code, out, _ = run(mm_sandbox, capsys, "show", email_id, "--json")
    assert (code, json.loads(out)) == (0, listed)
    code, out, _ = run(mm_sandbox, capsys, "approve", email_id, "--json")
    assert (code, json.loads(out)) == (0, {"id": email_id, "status": "approved_and_sent"})


def test_a_rejection_needs_a_reason_and_records_it(
    mm_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    email_id = hold(mm_sandbox)
    with pytest.raises(SystemExit) as usage:
        run(mm_sandbox, capsys, "reject", email_id)
    assert usage.value.code == 2
    assert "--reason" in capsys.readouterr().err
    code, _, err = run(mm_sandbox, capsys, "reject", email_id, "--reason", "   ")
    assert code == 2
    assert "needs a reason" in err
    assert status_of(mm_sandbox, email_id) == "pending_send_approval"

    code, out, _ = run(mm_sandbox, capsys, "reject", email_id, "--reason", "Wrong figures")
    assert (code, out) == (0, f"rejected {email_id}: rejected\n")
    email = mm_sandbox.multimail.email(email_id)
    assert email is not None
    assert (email["status"], email["rejection_reason"]) == ("rejected", "Wrong figures")


def test_a_key_without_oversight_scope_gets_a_clear_error(
    mm_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    email_id = hold(mm_sandbox)
    for argv in (["list"], ["approve", email_id]):
        code, out, err = run(mm_sandbox, capsys, *argv, key="read")
        assert code == 1
        assert out == ""
        assert err.startswith(f"mm-assistants approvals: {NO_OVERSIGHT_SCOPE}")
    assert status_of(mm_sandbox, email_id) == "pending_send_approval"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["show", "em_nope"], "no email em_nope waits for a decision", id="show"),
        pytest.param(["approve", "em_nope"], "unknown email id em_nope", id="approve"),
        pytest.param(
            ["reject", "em_nope", "--reason", "x"], "unknown email id em_nope", id="reject"
        ),
    ],
)
def test_an_unknown_id_is_an_error(
    mm_sandbox: Sandbox, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(mm_sandbox, capsys, *argv)
    assert code == 1
    assert out == ""
    assert message in err


def test_deciding_twice_says_it_no_longer_waits(
    mm_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    email_id = hold(mm_sandbox)
    assert run(mm_sandbox, capsys, "approve", email_id)[0] == 0
    code, _, err = run(mm_sandbox, capsys, "approve", email_id)
    assert code == 1
    assert f"email {email_id} is not waiting for a decision" in err


def test_the_key_and_url_come_from_the_environment(
    mm_sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    email_id = hold(mm_sandbox)
    monkeypatch.setenv("MULTIMAIL_API_KEY", mm_sandbox.keys["oversight"])
    monkeypatch.setenv("MULTIMAIL_API_URL", mm_sandbox.multimail_url)
    assert main(["approvals", "list"]) == 0
    assert email_id in capsys.readouterr().out


def test_no_key_at_all_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["approvals", "list"]) == 2
    assert "MULTIMAIL_API_KEY" in capsys.readouterr().err


def test_an_unreachable_api_is_an_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a loopback port held but not listening: refused at once, nothing leaves the machine
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}"
        assert main(["approvals", "list", "--api-key", "mm_test_x", "--base-url", url]) == 1
    assert "could not reach MultiMail" in capsys.readouterr().err
