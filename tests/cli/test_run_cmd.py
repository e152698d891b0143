"""``mm-assistants assistant create`` and ``run`` against real endpoints: the sandbox's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mm_assistants.cli.main import main
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox
from tests.e2e.conftest import Reviewer

# the command shows users the library's one sunset warning; which test sees it depends on order
pytestmark = pytest.mark.filterwarnings("ignore::mm_assistants._sunset.AssistantsSunsetWarning")


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {"multimail_settings": MultiMailSandboxSettings(scan_delay=0.0)}


@pytest.fixture
def pointed(mm_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    for name, value in mm_sandbox.environment().items():
        monkeypatch.setenv(name, value)
    return mm_sandbox


def create(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["assistant", "create", "--model", "m"]) == 0
    return capsys.readouterr().out.strip()


def test_create_then_run_a_message_through_its_approval(
    pointed: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assistant_id = create(capsys)
    assert assistant_id.startswith("asst_")
    pointed.multimail.inject_inbound(sender="ana@example.com", subject="Hi", markdown="Call?")
    with Reviewer(pointed, "approve"):
        code = main(["run", "--assistant", assistant_id, "--message", "Answer my inbox", "--json"])
    outcome = json.loads(capsys.readouterr().out)
    assert code == 0
    assert outcome["status"] == "completed"
    assert [a["decision"] for a in outcome["approvals"]] == ["approved"]


def test_a_run_that_does_not_complete_exits_1_and_says_how_it_ended(
    pointed: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assistant_id = create(capsys)
    pointed.openai.register_script("fails", [{"fail": {"code": "server_error", "message": "x"}}])
    pointed.openai.update(default_script="fails")
    code = main(["run", "--assistant", assistant_id, "--message", "hello"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "status: failed" in printed
