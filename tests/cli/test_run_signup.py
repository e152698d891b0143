"""``run`` for an operator's first signup and the steps after it: the tool set the assistant
records, no MultiMail key for a set that needs none, and a message added to a thread."""

from __future__ import annotations

import pytest
import respx

from mm_assistants.cli import preflight, run_cmd
from mm_assistants.cli.main import main
from mm_assistants.cli.profile_choice import choose_tool_set, needs_key
from mm_assistants.tools import load_registry
from tests.cli.test_run_cmd import CapturingDriver, run_offline

# the command shows users the library's one sunset warning; which test sees it depends on order
pytestmark = pytest.mark.filterwarnings("ignore::mm_assistants._sunset.AssistantsSunsetWarning")

RUN = ["run", "--assistant", "asst_1", "--message", "hi", "--any-mailbox"]


def errors(capsys: pytest.CaptureFixture[str]) -> str:
    # the sunset note shows once per process, in whichever test comes first, and the note on
    # tools refused without --secrets-file has its own tests: neither is counted
    err = capsys.readouterr().err
    return "".join(line for line in err.splitlines(True) if not line.startswith("note:"))


@pytest.mark.parametrize(
    ("argv", "recorded", "profile", "tools", "warned"),
    [
        pytest.param([], {}, "agent", None, None, id="nothing-recorded-agent"),
        pytest.param([], {"mm_profile": "reviewer"}, "reviewer", None, None, id="recorded"),
        pytest.param(["--profile", "reviewer"], {}, "reviewer", None, None, id="flag"),
        pytest.param(
            ["--profile", "signup"], {"mm_profile": "signup"}, "signup", None, None, id="agrees"
        ),
        pytest.param(
            ["--profile", "agent"], {"mm_profile": "reviewer"}, "agent", None,
            "records profile reviewer (metadata mm_profile); answering its calls with "
            "--profile agent",
            id="flag-disagrees",
        ),
        pytest.param(
            ["--profile", "agent"], {"mm_tools": "read_email"}, "agent", None,
            "records its own list of 1 tools (metadata mm_tools); answering its calls with "
            "--profile agent",
            id="flag-over-a-list",
        ),
    ],
)  # fmt: skip
def test_run_answers_with_the_recorded_tool_set_unless_told(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    recorded: dict[str, str],
    profile: str | None,
    tools: tuple[str, ...] | None,
    warned: str | None,
) -> None:
    openai = run_offline(monkeypatch, "v2", **recorded)
    assert main([*RUN, *argv]) == 0
    [dispatcher] = CapturingDriver.dispatchers
    expected = load_registry("v2").resolve(profile=profile, tools=tools)
    assert dispatcher.enabled_tools == expected
    assert openai.retrieved == ["asst_1"]  # still one retrieve for both choices
    if warned is None:
        assert errors(capsys) == ""
    else:
        assert errors(capsys) == (
            f"warning: assistant asst_1 {warned} as given: a tool call that profile lacks is "
            "refused to the model\n"
        )


@pytest.mark.parametrize(
    ("recorded", "says"),
    [
        pytest.param(
            {"mm_profile": "auditor"},
            "assistant asst_1 records profile auditor (metadata mm_profile), which this "
            "mm-assistants does not know (agent, reviewer, signup, admin): pass --profile",
            id="unknown-profile",
        ),
        pytest.param(
            {"mm_tools": "read_email,not_spam"},
            "assistant asst_1 records its own list of 2 tools (metadata mm_tools); run follows "
            "only a recorded named profile (agent, reviewer, signup): pass --profile",
            id="recorded-list-is-not-followed",
        ),
        pytest.param(
            {"mm_profile": "admin"},
            "assistant asst_1 records profile admin (metadata mm_profile); a profile that wide "
            "is never taken from metadata: pass --profile admin to confirm",
            id="recorded-admin-is-not-followed",
        ),
    ],
)
def test_a_recorded_tool_set_this_library_lacks_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    recorded: dict[str, str],
    says: str,
) -> None:
    run_offline(monkeypatch, "v2", **recorded)
    assert main(RUN) == 2
    [line] = errors(capsys).splitlines()
    assert line.startswith(f"mm-assistants run: {says}")
    assert CapturingDriver.dispatchers == []  # nothing ran


def test_a_flag_always_wins_even_over_an_unknown_profile() -> None:
    choice = choose_tool_set("asst_1", "agent", "auditor", None)
    assert (choice.profile, choice.tools) == ("agent", None)
    assert choice.warning is not None
    assert "records profile auditor" in choice.warning


@respx.mock
@pytest.mark.parametrize("key_in_env", [False, True], ids=["no-key", "another-accounts-key"])
def test_a_signup_run_needs_no_key_and_sends_none(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key_in_env: bool
) -> None:
    run_offline(monkeypatch, "v2", mm_profile="signup")
    if not key_in_env:
        monkeypatch.delenv("MULTIMAIL_API_KEY")
    monkeypatch.delenv("MULTIMAIL_MAILBOX_ID", raising=False)
    # the real start-up check: MultiMail's 401 to a request without a key says "MultiMail"
    monkeypatch.setattr(run_cmd, "check_multimail", preflight.check_multimail)
    probe = respx.get("https://mm.test/v1/account").respond(401, json={"error": "Missing key"})
    assert main(["run", "--assistant", "asst_1", "--message", "Sign me up"]) == 0
    [dispatcher] = CapturingDriver.dispatchers
    assert set(dispatcher.enabled_tools) == {
        "request_challenge",
        "create_account",
        "activate_account",
        "resend_confirmation",
    }
    assert dispatcher.client.has_key is False
    [call] = probe.calls
    assert "authorization" not in call.request.headers  # not even an empty "Bearer "
    err = errors(capsys)
    assert "every mailbox" not in err  # no key reaches no mailbox: nothing to warn about
    assert "mm_test_key" not in repr(dispatcher.client)


@respx.mock
def test_a_keyless_run_still_refuses_a_url_that_is_not_multimail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_offline(monkeypatch, "v2", mm_profile="signup")
    monkeypatch.delenv("MULTIMAIL_API_KEY")
    monkeypatch.setattr(run_cmd, "check_multimail", preflight.check_multimail)
    respx.get("https://mm.test/v1/account").respond(404, text="Not Found")
    assert main(["run", "--assistant", "asst_1", "--message", "Sign me up"]) == 2
    [line] = errors(capsys).splitlines()
    assert "does not look like MultiMail's API" in line
    assert CapturingDriver.dispatchers == []


@pytest.mark.parametrize(
    ("recorded", "argv"),
    [
        pytest.param({}, [], id="agent-by-default"),
        pytest.param({"mm_profile": "signup"}, ["--profile", "reviewer"], id="flag-over-signup"),
    ],
)
def test_any_tool_that_needs_a_key_keeps_the_key_and_its_check(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    recorded: dict[str, str],
    argv: list[str],
) -> None:
    run_offline(monkeypatch, "v2", **recorded)
    monkeypatch.delenv("MULTIMAIL_API_KEY")
    assert main([*RUN, *argv]) == 2
    assert "pass --api-key or set the MULTIMAIL_API_KEY" in errors(capsys)
    assert CapturingDriver.dispatchers == []


@pytest.mark.parametrize(
    ("names", "needed"),
    [
        (("request_challenge", "create_account", "activate_account"), False),
        (("request_challenge", "get_account"), True),  # one keyed tool keeps the key
        ((), True),  # nothing to call: keep checking the key run was given
    ],
)
def test_only_a_set_of_keyless_tools_runs_without_a_key(
    names: tuple[str, ...], needed: bool
) -> None:
    assert needs_key(load_registry("v2"), names) is needed


def test_a_message_with_a_thread_goes_to_that_thread_with_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_offline(monkeypatch, "v2")
    argv = ["run", "--assistant", "asst_1", "--thread", "thread_1", "--message", "123456"]
    assert main([*argv, "--any-mailbox"]) == 0
    [(how, thread, assistant, [message], options)] = CapturingDriver.starts
    assert (how, thread, assistant, message.content) == (
        "run_messages",
        "thread_1",
        "asst_1",
        "123456",
    )
    assert options == {"check_posted": False}
    assert message.key.startswith("cli_")
    # the same words typed again are a new message (a new key), never left out as a repeat
    assert main([*argv, "--any-mailbox"]) == 0
    assert CapturingDriver.starts[1][3][0].key != message.key


def test_a_run_needs_a_message_or_a_thread(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--assistant", "asst_1"]) == 2
    assert capsys.readouterr().err == (
        "mm-assistants run: pass --message to start a new thread, --thread to run on one, or both\n"
    )
