"""Every command, run by a person with a wrong setup against the sandbox: one line on stderr,
the documented exit code, never a traceback (issue 12, items 4 and 5)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping

import pytest

from mm_assistants.sandbox import Sandbox
from tests.cli.signals import interruptible


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture(scope="module")
def closed_port() -> Iterator[str]:
    # a loopback port held but not listening: refused at once, nothing leaves the machine
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture(scope="module")
def assistant_id(sandbox: Sandbox) -> str:
    finished = command(sandbox, {}, "assistant", "create", "--model", "m")
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.strip()


def command(
    sandbox: Sandbox, changes: Mapping[str, str | None], *argv: str
) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, with the sandbox's exports changed by ``changes``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MULTIMAIL_", "OPENAI_"))}
    env.update(sandbox.environment())
    env["MULTIMAIL_API_KEY"] = sandbox.keys["send"]
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-m", "mm_assistants.cli.main", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def one_line(finished: subprocess.CompletedProcess[str], code: int, prog: str) -> str:
    assert "Traceback" not in finished.stderr
    assert finished.returncode == code, finished.stderr
    lines = finished.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"mm-assistants {prog}: ")
    return lines[0]


RUN = ("run", "--message", "Answer my inbox")


def test_run_without_a_multimail_key(sandbox: Sandbox, assistant_id: str) -> None:
    finished = command(sandbox, {"MULTIMAIL_API_KEY": None}, *RUN, "--assistant", assistant_id)
    line = one_line(finished, 2, "run")
    assert "pass --api-key or set the MULTIMAIL_API_KEY" in line
    assert "api_key=" not in line


def test_run_without_an_openai_key(sandbox: Sandbox, assistant_id: str) -> None:
    finished = command(sandbox, {"OPENAI_API_KEY": None}, *RUN, "--assistant", assistant_id)
    assert "set OPENAI_API_KEY" in one_line(finished, 2, "run")


def test_run_with_a_key_the_sandbox_refuses(sandbox: Sandbox, assistant_id: str) -> None:
    finished = command(
        sandbox, {"MULTIMAIL_API_KEY": "mm_test_not_a_key"}, *RUN, "--assistant", assistant_id
    )
    line = one_line(finished, 1, "run")
    assert "MultiMail refused the API key" in line
    assert "mm_test_not_a_key" not in line


def test_run_an_assistant_that_does_not_exist(sandbox: Sandbox) -> None:
    finished = command(sandbox, {}, *RUN, "--assistant", "asst_nope")
    assert "No assistant found with id 'asst_nope'" in one_line(finished, 1, "run")


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("variable", id="MULTIMAIL_API_URL"),
        pytest.param("flag", id="--base-url"),
    ],
)
def test_run_with_multimail_pointing_at_the_openai_half(
    sandbox: Sandbox, assistant_id: str, how: str
) -> None:
    wrong = sandbox.openai_url
    if how == "flag":
        finished = command(sandbox, {}, *RUN, "--assistant", assistant_id, "--base-url", wrong)
    else:
        finished = command(sandbox, {"MULTIMAIL_API_URL": wrong}, *RUN, "--assistant", assistant_id)
    line = one_line(finished, 2, "run")
    assert "does not look like MultiMail's API: check --base-url / MULTIMAIL_API_URL" in line


def test_run_with_openai_pointing_at_the_multimail_half(
    sandbox: Sandbox, assistant_id: str
) -> None:
    finished = command(
        sandbox, {"OPENAI_BASE_URL": sandbox.multimail_url}, *RUN, "--assistant", assistant_id
    )
    line = one_line(finished, 2, "run")
    assert "does not look like an OpenAI-compatible API" in line
    assert "check OPENAI_BASE_URL" in line


def test_run_with_multimail_unreachable(
    sandbox: Sandbox, assistant_id: str, closed_port: str
) -> None:
    finished = command(
        sandbox, {"MULTIMAIL_API_URL": closed_port}, *RUN, "--assistant", assistant_id
    )
    assert "could not reach MultiMail" in one_line(finished, 1, "run")


def test_assistant_create_without_an_openai_key(sandbox: Sandbox) -> None:
    finished = command(sandbox, {"OPENAI_API_KEY": None}, "assistant", "create", "--model", "m")
    assert "set OPENAI_API_KEY" in one_line(finished, 2, "assistant")


def test_assistant_create_with_a_wrong_base_url(sandbox: Sandbox, closed_port: str) -> None:
    finished = command(
        sandbox, {"OPENAI_BASE_URL": f"{closed_port}/v1"}, "assistant", "create", "--model", "m"
    )
    line = one_line(finished, 1, "assistant")
    assert f"could not reach OpenAI at {closed_port}: check OPENAI_BASE_URL" in line


def test_assistant_create_with_openai_pointing_at_the_multimail_half(sandbox: Sandbox) -> None:
    finished = command(
        sandbox,
        {"OPENAI_BASE_URL": f"{sandbox.multimail_url}/v1"},
        "assistant",
        "create",
        "--model",
        "m",
    )
    assert "does not look like an OpenAI-compatible API" in one_line(finished, 2, "assistant")


def test_assistant_create_names_the_flag_a_profile_needs(sandbox: Sandbox) -> None:
    finished = command(sandbox, {}, "assistant", "create", "--model", "m", "--profile", "admin")
    line = one_line(finished, 2, "assistant")
    assert "pass --allow-self-approval" in line
    again = command(
        sandbox,
        {},
        "assistant",
        "create",
        "--model",
        "m",
        "--profile",
        "admin",
        "--allow-self-approval",
    )
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        pytest.param(["asst_missing"], 1, "No assistant found", id="unknown-assistant"),
        # read, then refused: the sunset note must not come before the error line
        pytest.param(["{id}", "--profile", "admin"], 2, "--allow-self-approval", id="admin"),
    ],
)
def test_assistant_update_failures_are_one_line(
    sandbox: Sandbox, assistant_id: str, argv: list[str], code: int, says: str
) -> None:
    argv = [arg.replace("{id}", assistant_id) for arg in argv]
    finished = command(sandbox, {}, "assistant", "update", *argv, "--schema-version", "v2")
    assert says in one_line(finished, code, "assistant")


def test_approvals_pointing_at_the_openai_half_is_not_no_such_email(sandbox: Sandbox) -> None:
    finished = command(
        sandbox,
        {"MULTIMAIL_API_KEY": sandbox.keys["oversight"]},
        "approvals",
        "show",
        "em_1",
        "--base-url",
        sandbox.openai_url,
    )
    line = one_line(finished, 2, "approvals")
    assert "does not look like MultiMail's API" in line
    assert "no such email" not in line


def test_approvals_without_a_key_names_the_flag(sandbox: Sandbox) -> None:
    finished = command(sandbox, {"MULTIMAIL_API_KEY": None}, "approvals", "list")
    line = one_line(finished, 2, "approvals")
    assert "pass --api-key or set the MULTIMAIL_API_KEY" in line


def test_a_good_run_shows_the_sunset_warning_as_one_note(
    sandbox: Sandbox, assistant_id: str
) -> None:
    finished = command(sandbox, {}, *RUN, "--assistant", assistant_id)
    assert finished.returncode == 0, finished.stderr
    assert finished.stderr.startswith("note: OpenAI shut down its hosted Assistants API")
    assert len(finished.stderr.splitlines()) == 1  # no file path, no source line
    assert "AssistantsSunsetWarning" not in finished.stderr
    assert "status: completed" in finished.stdout


def test_ctrl_c_during_a_run_is_one_line_and_130(sandbox: Sandbox, assistant_id: str) -> None:
    sandbox.multimail.inject_inbound(sender="ana@example.com", subject="Hi", markdown="Call?")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MULTIMAIL_", "OPENAI_"))}
    env.update(sandbox.environment())
    process = subprocess.Popen(
        [sys.executable, "-m", "mm_assistants.cli.main", *RUN, "--assistant", assistant_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=interruptible,
    )
    try:
        deadline = time.monotonic() + 30
        # the reply is held for a human: the run now waits, as a person would see it do
        while not sandbox.multimail.pending() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sandbox.multimail.pending()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert "Traceback" not in err
    assert process.returncode == 130
    assert err.splitlines()[-1] == "mm-assistants run: interrupted"


@pytest.mark.parametrize("value", ["../x", "mbx 1"], ids=["dots", "space"])
def test_run_with_a_mailbox_that_cannot_be_one_is_one_line(
    sandbox: Sandbox, assistant_id: str, value: str
) -> None:
    finished = command(sandbox, {"MULTIMAIL_MAILBOX_ID": value}, *RUN, "--assistant", assistant_id)
    line = one_line(finished, 2, "run")
    assert "mailbox" in line


def test_run_reads_a_mailbox_with_a_stray_newline_as_the_library_does(
    sandbox: Sandbox, assistant_id: str
) -> None:
    # `export MULTIMAIL_MAILBOX_ID=$(cat file)` keeps a newline; Python code reads it fine
    finished = command(
        sandbox,
        {"MULTIMAIL_MAILBOX_ID": sandbox.mailbox_id + "\n"},
        *RUN, "--assistant", assistant_id, "--max-wait", "1",
    )  # fmt: skip
    assert "Traceback" not in finished.stderr
    assert finished.returncode == 0, finished.stderr
    assert "completed" in finished.stdout
