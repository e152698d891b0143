"""Every printer of the CLI shows untrusted text (subjects, bodies, reasons, model text)
without the characters that steer a terminal: an ANSI sequence in a subject must not
overwrite the ``to:`` line a reviewer is about to approve."""

from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
import respx

from mm_assistants.approvals import ApprovalOutcome
from mm_assistants.cli import run_cmd
from mm_assistants.cli.console import Console
from mm_assistants.cli.demo_reviewer import at_terminal
from mm_assistants.cli.main import main
from mm_assistants.dispatch import ToolCall, ToolResult
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox
from tests.cli.fake_openai import recording
from tests.review.conftest import hold
from tests.review.hostile import HOSTILE, raw_in

BASE = "https://mm.test"


def test_the_interactive_reviewer_shows_the_held_email_without_steering() -> None:
    out = io.StringIO()
    email = {"id": HOSTILE, "to": [HOSTILE], "subject": HOSTILE, "body_markdown": HOSTILE}
    decision = at_terminal(Console(out, live=False), ask=lambda prompt: "a")(email, 0.0)
    assert decision is not None
    shown = out.getvalue()
    assert raw_in(shown) == []
    # the subject stays on its own line: it cannot forge a "to:" line below
    assert len([line for line in shown.splitlines() if line.startswith("  │ to:")]) == 1
    assert "\\x1b[2K" in shown  # what was removed shows


#: The controls rich itself writes for a live status line on a terminal.
RICH_OWN = re.compile(r"\x1b\[(\?25[lh]|2K|1A|[\d;]*m)")


@pytest.mark.parametrize("live", [pytest.param(False, id="pipe"), pytest.param(True, id="tty")])
def test_the_console_never_writes_a_steering_character(live: bool) -> None:
    out = io.StringIO()
    console = Console(out, live=live)
    console.status(HOSTILE)
    console.line(HOSTILE)
    console.call_started(ToolCall(id="c", name="send_email", arguments=HOSTILE))
    rejected = ApprovalOutcome(
        email_id="em_1", decision="rejected", reason=HOSTILE, approved_by=HOSTILE, waited=1.0
    )
    console.call_finished(
        ToolResult(call_id="c", name=HOSTILE, ok=True, output="{}", approval=rejected)
    )
    failed = json.dumps({"error": {"message": HOSTILE}})
    console.call_finished(
        ToolResult(call_id="c", name="x", ok=False, output=failed, error_type=HOSTILE)
    )
    console.clear_status()
    written = out.getvalue()
    # rich's own redraws are the only controls left; every one of HOSTILE's shows escaped
    assert raw_in(RICH_OWN.sub("", written)) == []
    assert "\\x1b[2K\\x1b[1Ato: boss@corp.example" in written


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {"multimail_settings": MultiMailSandboxSettings(scan_delay=0.0)}


def test_approvals_list_show_and_decide_print_no_steering_characters(
    mm_sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MULTIMAIL_API_KEY", raising=False)
    email_id = hold(mm_sandbox, subject=HOSTILE, markdown=f"{HOSTILE}\n{HOSTILE}")
    options = ["--api-key", mm_sandbox.keys["oversight"], "--base-url", mm_sandbox.multimail_url]
    for argv in (["list"], ["show", email_id], ["show", HOSTILE], ["approve", email_id]):
        main(["approvals", *argv, *options])
        out, err = capsys.readouterr()
        assert raw_in(out + err) == [], argv
    assert HOSTILE not in out


@respx.mock
def test_approvals_prints_a_hostile_status_and_refusal_safely(
    capsys: pytest.CaptureFixture[str],
) -> None:
    respx.post(f"{BASE}/v1/oversight/decide").respond(json={"status": HOSTILE})
    options = ["--api-key", "mm_test_oversight", "--base-url", BASE]
    main(["approvals", "approve", "em_1", *options])
    respx.post(f"{BASE}/v1/oversight/decide").respond(409, json={"error": HOSTILE})
    main(["approvals", "approve", "em_1", *options])
    out, err = capsys.readouterr()
    assert "approved em_1" in out
    assert raw_in(out + err) == []


def test_run_prints_the_models_words_and_tool_names_without_steering(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = SimpleNamespace(
        tool_results=[SimpleNamespace(ok=True, name=HOSTILE, call_id=HOSTILE)],
        status="completed",
        openai_requests=3,
        text=f"Done.\n{HOSTILE}",
    )

    class Driver:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def create_thread_and_run(self, *args: object) -> object:
            return outcome

    monkeypatch.setattr("mm_assistants.AssistantsRunDriver", Driver)
    monkeypatch.setattr(run_cmd, "openai_client", recording)
    monkeypatch.setattr(run_cmd, "check_multimail", lambda client: None)  # BASE is not served
    monkeypatch.setenv("MULTIMAIL_API_KEY", "mm_test_send")
    monkeypatch.setenv("MULTIMAIL_API_URL", BASE)
    assert main(["run", "--assistant", "asst_1", "--message", "hi", "--mailbox-id", "mbx"]) == 0
    out = capsys.readouterr().out
    assert "Done." in out
    assert raw_in(out) == []
