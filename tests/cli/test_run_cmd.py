"""``mm-assistants assistant create`` and ``run`` against real endpoints: the sandbox's."""

from __future__ import annotations

import json
from typing import Any, ClassVar

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


class CapturingDriver:
    """Stands in for AssistantsRunDriver: keeps the dispatcher ``run`` built, runs nothing."""

    dispatchers: ClassVar[list[Any]] = []

    def __init__(self, openai: Any, dispatcher: Any, **options: Any) -> None:
        self.dispatchers.append(dispatcher)

    def create_thread_and_run(self, assistant_id: str, messages: list[str]) -> Any:
        from mm_assistants import RunOutcome

        return RunOutcome(status="completed")


@pytest.mark.parametrize(
    ("argv", "env_mailbox", "scope", "warned"),
    [
        pytest.param(["--mailbox-id", "mbx_a"], None, frozenset({"mbx_a"}), False, id="flag"),
        pytest.param([], "mbx_env", frozenset({"mbx_env"}), False, id="environment"),
        pytest.param(["--mailbox-id", "mbx_a", "--any-mailbox"], None, None, False, id="wide"),
        pytest.param(["--any-mailbox"], None, None, False, id="any-no-default"),
        pytest.param([], None, None, True, id="unscoped-warns"),
    ],
)
def test_run_scopes_the_model_to_its_mailbox(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env_mailbox: str | None,
    scope: frozenset[str] | None,
    warned: bool,
) -> None:
    import mm_assistants
    from mm_assistants.cli import run_cmd

    monkeypatch.setenv("MULTIMAIL_API_KEY", "mm_test_key")
    monkeypatch.setenv("MULTIMAIL_API_URL", "https://mm.test")
    if env_mailbox is None:
        monkeypatch.delenv("MULTIMAIL_MAILBOX_ID", raising=False)
    else:
        monkeypatch.setenv("MULTIMAIL_MAILBOX_ID", env_mailbox)
    monkeypatch.setattr(run_cmd, "_openai", lambda: object())
    monkeypatch.setattr(run_cmd, "check_multimail", lambda client: None)  # mm.test is not served
    monkeypatch.setattr(mm_assistants, "AssistantsRunDriver", CapturingDriver)
    CapturingDriver.dispatchers = []
    code = main(["run", "--assistant", "asst_1", "--message", "hi", *argv])
    assert code == 0
    assert CapturingDriver.dispatchers[0].allowed_mailboxes == scope
    assert ("every mailbox" in capsys.readouterr().err) is warned


def test_run_help_documents_the_mailbox_and_its_fallback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--mailbox-id MAILBOX_ID the mailbox the model works in" in shown
    assert "(default: $MULTIMAIL_MAILBOX_ID)" in shown
    assert "--any-mailbox let the model use every mailbox the API key reaches" in shown
    assert "--api-key" in shown
    assert "--base-url" in shown


@pytest.mark.parametrize(
    ("argv", "version", "has_report_spam"),
    [
        pytest.param([], "v1", False, id="default-v1"),
        pytest.param(["--schema-version", "v2"], "v2", True, id="v2"),
    ],
)
def test_run_answers_the_tools_of_the_schema_version(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], version: str, has_report_spam: bool
) -> None:
    import mm_assistants
    from mm_assistants.cli import run_cmd

    monkeypatch.setenv("MULTIMAIL_API_KEY", "mm_test_key")
    monkeypatch.setenv("MULTIMAIL_API_URL", "https://mm.test")
    monkeypatch.setattr(run_cmd, "_openai", lambda: object())
    monkeypatch.setattr(run_cmd, "check_multimail", lambda client: None)  # mm.test is not served
    monkeypatch.setattr(mm_assistants, "AssistantsRunDriver", CapturingDriver)
    CapturingDriver.dispatchers = []
    code = main(["run", "--assistant", "asst_1", "--message", "hi", "--any-mailbox", *argv])
    assert code == 0
    dispatcher = CapturingDriver.dispatchers[0]
    assert dispatcher.registry.version == version
    assert ("report_spam" in dispatcher.enabled_tools) is has_report_spam


def test_a_v2_only_profile_on_v1_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mm_assistants.cli import run_cmd

    monkeypatch.setenv("MULTIMAIL_API_KEY", "mm_test_key")
    monkeypatch.setenv("MULTIMAIL_API_URL", "https://mm.test")
    monkeypatch.setattr(run_cmd, "_openai", lambda: object())
    monkeypatch.setattr(run_cmd, "check_multimail", lambda client: None)
    code = main(["run", "--assistant", "asst_1", "--message", "hi", "--profile", "signup"])
    assert code == 2
    assert capsys.readouterr().err == (
        "mm-assistants run: --profile signup is not in schema set v1: pass the "
        "--schema-version that has it (v1, v2)\n"
    )
    argv = ["assistant", "create", "--model", "m", "--profile", "signup"]
    assert main(argv) == 2
    assert "--profile signup is not in schema set v1" in capsys.readouterr().err


def test_create_then_run_on_schema_v2(pointed: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["assistant", "create", "--model", "m", "--schema-version", "v2"]
    assert main(argv) == 0
    assistant_id = capsys.readouterr().out.strip()
    pointed.multimail.inject_inbound(sender="ana@example.com", subject="Hi", markdown="Call?")
    with Reviewer(pointed, "approve"):
        run = ["run", "--assistant", assistant_id, "--message", "Answer my inbox", "--json"]
        code = main([*run, "--schema-version", "v2"])
    outcome = json.loads(capsys.readouterr().out)
    assert code == 0
    assert outcome["status"] == "completed"
    assert [a["decision"] for a in outcome["approvals"]] == ["approved"]
