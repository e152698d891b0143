"""``mm-assistants assistant create`` and ``run`` against real endpoints: the sandbox's."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from mm_assistants.cli.main import main
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox
from mm_assistants.tools import ToolRegistry
from tests.cli.fake_openai import recording
from tests.e2e.conftest import Reviewer

# the command shows users the library's one sunset warning; which test sees it depends on order
pytestmark = pytest.mark.filterwarnings("ignore::mm_assistants._sunset.AssistantsSunsetWarning")


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {"multimail_settings": MultiMailSandboxSettings(scan_delay=0.0)}


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
    """Stands in for AssistantsRunDriver: keeps the dispatcher ``run`` built and how the run
    was started (``starts``: the method and its arguments), runs nothing."""

    dispatchers: ClassVar[list[Any]] = []
    starts: ClassVar[list[tuple[Any, ...]]] = []

    def __init__(self, openai: Any, dispatcher: Any, **options: Any) -> None:
        self.dispatchers.append(dispatcher)

    def create_thread_and_run(self, assistant_id: str, messages: list[str]) -> Any:
        return self._started("create_thread_and_run", assistant_id, messages)

    def run(self, thread_id: str, assistant_id: str) -> Any:
        return self._started("run", thread_id, assistant_id)

    def run_messages(self, thread_id: str, assistant_id: str, messages: Any, **kw: Any) -> Any:
        return self._started("run_messages", thread_id, assistant_id, list(messages), kw)

    def _started(self, *how: Any) -> Any:
        from mm_assistants import RunOutcome

        self.starts.append(how)
        return RunOutcome(status="completed")


def run_offline(monkeypatch: pytest.MonkeyPatch, recorded: str | None, **metadata: str) -> Any:
    """Point ``run`` at a MultiMail that is not served and an OpenAI whose assistant records
    schema set ``recorded`` (and the ``metadata`` pairs); the driver only keeps the
    dispatcher. Returns the OpenAI stand-in."""
    import mm_assistants
    from mm_assistants.cli import run_cmd

    openai = recording(recorded, **metadata)
    monkeypatch.setenv("MULTIMAIL_API_KEY", "mm_test_key")
    monkeypatch.setenv("MULTIMAIL_API_URL", "https://mm.test")
    monkeypatch.setattr(run_cmd, "openai_client", lambda: openai)
    monkeypatch.setattr(run_cmd, "check_multimail", lambda client: None)  # mm.test is not served
    monkeypatch.setattr(mm_assistants, "AssistantsRunDriver", CapturingDriver)
    CapturingDriver.dispatchers = []
    CapturingDriver.starts = []
    return openai


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
    run_offline(monkeypatch, None)
    if env_mailbox is None:
        monkeypatch.delenv("MULTIMAIL_MAILBOX_ID", raising=False)
    else:
        monkeypatch.setenv("MULTIMAIL_MAILBOX_ID", env_mailbox)
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
    ("argv", "recorded", "version", "warned"),
    [
        pytest.param([], None, "v1", False, id="nothing-recorded-v1"),
        pytest.param([], "v1", "v1", False, id="recorded-v1"),
        pytest.param([], "v2", "v2", False, id="recorded-v2"),
        pytest.param(["--schema-version", "v2"], None, "v2", False, id="flag-v2"),
        pytest.param(["--schema-version", "v2"], "v2", "v2", False, id="flag-agrees"),
        pytest.param(["--schema-version", "v1"], "v2", "v1", True, id="flag-disagrees"),
        pytest.param(["--schema-version", "v2"], "v9", "v2", True, id="flag-over-unknown"),
    ],
)
def test_run_answers_with_the_recorded_schema_version_unless_told(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    recorded: str | None,
    version: str,
    warned: bool,
) -> None:
    openai = run_offline(monkeypatch, recorded)
    code = main(["run", "--assistant", "asst_1", "--message", "hi", "--any-mailbox", *argv])
    assert code == 0
    dispatcher = CapturingDriver.dispatchers[0]
    assert dispatcher.registry.version == version
    assert ("report_spam" in dispatcher.enabled_tools) is (version == "v2")
    assert openai.retrieved == ["asst_1"]  # read once
    # the sunset note shows once per process, in whichever test comes first: not counted
    err = "".join(line for line in capsys.readouterr().err.splitlines(True) if "note:" not in line)
    warning = (
        f"warning: assistant asst_1 records schema set {recorded} (metadata mm_schema_version); "
        f"answering its calls with --schema-version {version} as given: a tool call that set "
        "lacks is refused to the model\n"
    )
    assert err == (warning if warned else "")


def test_an_unknown_recorded_version_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_offline(monkeypatch, "v9")
    code = main(["run", "--assistant", "asst_1", "--message", "hi", "--any-mailbox"])
    assert code == 2
    assert capsys.readouterr().err == (
        "mm-assistants run: assistant asst_1 records schema set v9 (metadata "
        "mm_schema_version), which this mm-assistants does not bundle (v1, v2): upgrade "
        "mm-assistants, or pass --schema-version to answer its calls with a bundled set\n"
    )
    assert CapturingDriver.dispatchers == []  # nothing ran


def test_a_v2_only_profile_on_v1_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_offline(monkeypatch, None)
    code = main(["run", "--assistant", "asst_1", "--message", "hi", "--profile", "signup"])
    assert code == 2
    assert capsys.readouterr().err == (
        "mm-assistants run: --profile signup is not in schema set v1: pass the "
        "--schema-version that has it (v1, v2)\n"
    )
    argv = ["assistant", "create", "--model", "m", "--profile", "signup"]
    assert main(argv) == 2
    assert "--profile signup is not in schema set v1" in capsys.readouterr().err


def test_create_on_schema_v2_then_run_without_the_flag(
    pointed: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mm_assistants.cli import run_cmd

    argv = ["assistant", "create", "--model", "m", "--schema-version", "v2"]
    assert main(argv) == 0
    assistant_id = capsys.readouterr().out.strip()
    versions: list[str] = []
    real = run_cmd.registry_for

    def spied(version: str, profile: str | None, tools: Any = None) -> ToolRegistry:
        versions.append(version)
        return real(version, profile, tools)

    monkeypatch.setattr(run_cmd, "registry_for", spied)
    pointed.multimail.inject_inbound(sender="ana@example.com", subject="Hi", markdown="Call?")
    with Reviewer(pointed, "approve"):
        code = main(["run", "--assistant", assistant_id, "--message", "Answer my inbox", "--json"])
    outcome = json.loads(capsys.readouterr().out)
    assert code == 0
    assert versions == ["v2"]  # the version create recorded on the assistant
    assert outcome["status"] == "completed"
    assert [a["decision"] for a in outcome["approvals"]] == ["approved"]


def test_run_admin_needs_the_self_approval_flag_and_names_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_offline(monkeypatch, None)
    argv = [
        "run",
        "--assistant",
        "asst_1",
        "--message",
        "hi",
        "--any-mailbox",
        "--profile",
        "admin",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "pass --allow-self-approval if one assistant really should do both" in err
    assert "allow_self_approval=" not in err
    assert main([*argv, "--allow-self-approval"]) == 0
    [dispatcher] = CapturingDriver.dispatchers
    assert "send_email" in dispatcher.enabled_tools
    assert "decide_email" in dispatcher.enabled_tools
