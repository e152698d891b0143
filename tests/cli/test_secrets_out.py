"""``run --secrets-file``: the file the operator's secrets go to, and what ``run`` says
without one (cli/secrets_out.py)."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from mm_assistants.cli.errors import CliError
from mm_assistants.cli.main import main
from mm_assistants.cli.secrets_out import SecretsFile, file_problem, refused_note
from mm_assistants.dispatch.handoff import SecretHandoff, hand_over
from tests.cli.test_run_cmd import CapturingDriver, run_offline

# the command shows users the library's one sunset warning; which test sees it depends on order
pytestmark = pytest.mark.filterwarnings("ignore::mm_assistants._sunset.AssistantsSunsetWarning")

KEY = "mm_live_0123456789abcdef"
HANDOFF = SecretHandoff("activate_account", "call_1", "api_key", KEY)
ME = os.getuid()


def lines_of(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_secret_is_one_json_line_in_a_new_private_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.jsonl"
    with SecretsFile.open(str(path)) as secrets:
        secrets(HANDOFF)
        assert KEY not in repr(secrets)
        assert secrets.written == ["api_key of activate_account (call call_1)"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [line] = lines_of(path)
    assert {k: line[k] for k in ("tool", "call_id", "field", "value")} == {
        "tool": "activate_account",
        "call_id": "call_1",
        "field": "api_key",
        "value": KEY,
    }
    assert line["at"].endswith("Z")


def test_the_file_is_appended_to_never_truncated(tmp_path: Path) -> None:
    path = tmp_path / "secrets.jsonl"
    path.write_text('{"kept": "an earlier key"}\n')
    path.chmod(0o600)
    with SecretsFile.open(str(path)) as secrets:
        secrets(HANDOFF)
        secrets(SecretHandoff("upgrade_plan", "call_2", "checkout_url", "https://pay.example/x"))
    kept, first, second = lines_of(path)
    assert kept == {"kept": "an earlier key"}
    assert (first["value"], second["value"]) == (KEY, "https://pay.example/x")


def test_every_line_is_on_disk_before_the_callback_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real = os.fsync

    def counted(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counted)
    with SecretsFile.open(str(tmp_path / "s.jsonl")) as secrets:
        before = len(synced)
        secrets(HANDOFF)
        assert len(synced) == before + 1


def test_a_failed_write_is_a_failed_handoff_that_never_shows_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, f"No space left for {KEY}")

    with SecretsFile.open(str(tmp_path / "s.jsonl")) as secrets:
        monkeypatch.setattr(os, "fsync", full)
        refusal = hand_over(secrets, "activate_account", "call_1", {"api_key": KEY})
        assert secrets.written == []
    assert refusal is not None
    assert refusal.type == "secret_handoff_failed"
    assert KEY not in json.dumps([refusal.message, refusal.details])
    assert KEY not in caplog.text


@pytest.mark.parametrize(
    ("mode", "owner", "problem"),
    [
        pytest.param(stat.S_IFREG | 0o600, ME, None, id="private"),
        pytest.param(stat.S_IFREG | 0o400, ME, None, id="read-only-to-me"),
        pytest.param(stat.S_IFREG | 0o640, ME, "open to group or others (mode 0640)", id="group"),
        pytest.param(stat.S_IFREG | 0o602, ME, "open to group or others (mode 0602)", id="world"),
        pytest.param(stat.S_IFREG | 0o600, ME + 1, "belongs to another user", id="not-mine"),
        pytest.param(stat.S_IFIFO | 0o600, ME, "is not a regular file", id="fifo"),
        pytest.param(stat.S_IFCHR | 0o600, ME, "is not a regular file", id="device"),
    ],
)
def test_only_a_private_regular_file_of_mine_may_hold_secrets(
    mode: int, owner: int, problem: str | None
) -> None:
    found = file_problem(mode, owner, ME)
    assert (found is None) if problem is None else (found is not None and problem in found)


def refusal_of(path: Path) -> str:
    with pytest.raises(CliError) as refused:
        SecretsFile.open(str(path))
    assert refused.value.code == 2
    return str(refused.value)


def test_a_symlink_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    target.chmod(0o600)
    link = tmp_path / "secrets.jsonl"
    link.symlink_to(target)
    assert refusal_of(link) == f"--secrets-file {link} is a symlink; name the file itself"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "not-yet")
    assert "is a symlink" in refusal_of(dangling)
    assert not (tmp_path / "not-yet").exists()  # never created through the link


def test_a_file_others_can_read_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "secrets.jsonl"
    path.write_text("earlier\n")
    path.chmod(0o644)
    assert refusal_of(path) == (
        f"--secrets-file {path} is open to group or others (mode 0644); make it private "
        "with: chmod 600; secrets are only written to a private file"
    )
    assert path.read_text() == "earlier\n"


def test_a_folder_or_a_fifo_nobody_reads_is_refused_at_once(tmp_path: Path) -> None:
    assert refusal_of(tmp_path) == f"--secrets-file {tmp_path} is not a regular file"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    assert refusal_of(fifo) == f"--secrets-file {fifo} is not a regular file"  # no reader: no wait


def test_a_missing_folder_says_why(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "s.jsonl"
    assert refusal_of(path) == (
        f"--secrets-file {path} cannot be opened for appending (No such file or directory)"
    )


def test_the_note_names_the_tools_refused_and_the_flag() -> None:
    assert refused_note(["check_inbox", "send_email"]) is None
    assert refused_note(["activate_account", "request_challenge", "create_api_key"]) == (
        "note: activate_account, create_api_key answer with a secret for the operator, and "
        "without --secrets-file there is nowhere to put it: the model's calls of them are "
        "refused; pass --secrets-file PATH (a file only you can read) to receive the secrets there"
    )


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        pytest.param([], None, id="agent-has-none"),
        pytest.param(
            ["--profile", "admin", "--allow-self-approval"],
            "activate_account, create_api_key, create_webhook",
            id="v1-admin",
        ),
        pytest.param(
            ["--profile", "signup", "--schema-version", "v2"], "activate_account", id="v2-signup"
        ),
    ],
)
def test_run_without_a_secrets_file_says_what_it_refuses(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    named: str | None,
) -> None:
    run_offline(monkeypatch, None)
    assert main(["run", "--assistant", "asst_1", "--message", "hi", "--any-mailbox", *argv]) == 0
    [dispatcher] = CapturingDriver.dispatchers
    assert dispatcher.on_secret is None
    notes = [line for line in capsys.readouterr().err.splitlines() if "--secrets-file" in line]
    if named is None:
        assert notes == []
    else:
        [note] = notes
        assert note.startswith(f"note: {named} answer with a secret for the operator")


def test_run_with_a_secrets_file_hands_secrets_to_it_and_notes_nothing_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run_offline(monkeypatch, None)
    path = tmp_path / "s.jsonl"
    argv = ["run", "--assistant", "asst_1", "--message", "hi", "--any-mailbox"]
    admin = ["--profile", "admin", "--allow-self-approval"]
    assert main([*argv, *admin, "--secrets-file", str(path)]) == 0
    [dispatcher] = CapturingDriver.dispatchers
    assert isinstance(dispatcher.on_secret, SecretsFile)
    assert dispatcher.on_secret.path == str(path)
    assert "--secrets-file" not in capsys.readouterr().err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_run_refuses_a_bad_secrets_file_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    openai = run_offline(monkeypatch, None)
    path = tmp_path / "s.jsonl"
    path.write_text("")
    path.chmod(0o660)
    argv = ["run", "--assistant", "asst_1", "--message", "hi", "--secrets-file", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mm-assistants run: --secrets-file {path} is open to group or others")
    assert len(err.splitlines()) == 1
    assert openai.retrieved == []  # OpenAI was never asked
    assert CapturingDriver.dispatchers == []
