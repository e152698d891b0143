"""``mm-assistants run --secrets-file``, in its own process against the sandbox and its OpenAI
emulator: a signup assistant creates and activates an account, and the new key is in the
operator's private file, nowhere in what the command printed or what the model was sent.

The operator has no MultiMail key yet (signup needs none), names the profile only when
creating the assistant (``run`` reads it back), and pastes the emailed code with
``run --thread T --message CODE``."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import openai
import pytest

from mm_assistants.sandbox import Sandbox
from mm_assistants.tools import load_registry
from tests.cli.test_bad_setups import command as cli_process
from tests.e2e.conftest import submitted_outputs, thread_texts
from tests.e2e.v2 import mailbox_api
from tests.quiet import quiet_assistants

OPERATOR = "ops@acme.example"
#: create_account's arguments: every field present (strict mode), the optional ones null.
ACCOUNT: dict[str, Any] = {
    **dict.fromkeys(load_registry("v2")["create_account"].parameters["properties"]),
    **dict.fromkeys(
        ("accepted_tos", "accepted_operator_agreement", "accepted_anti_spam_policy"), True
    ),
    "operator_name": "Acme Robots",
    "oversight_email": OPERATOR,
    "slug": "acme",
    # the dispatcher's solution, passed on unchanged as the challenge's output says
    "pow_solution": "{{outputs.request_challenge.untrusted.pow_solution}}",
}


def turn(tool: str, arguments: dict[str, Any], **when: str) -> dict[str, Any]:
    """A scripted turn that calls ``tool`` (when the conversation is as ``when`` says)."""
    return {"call": tool, "arguments": arguments} | ({"when": when} if when else {})


#: The operator's first message starts the signup; the code alone, later, activates.
SIGNUP_SCRIPT = [
    turn(
        "request_challenge", {"oversight_email": OPERATOR}, last_user_message_contains="sign me up"
    ),
    turn("activate_account", {"code": "{{last_user_message}}"}),
    turn("create_account", ACCOUNT, last_tool_name="request_challenge"),
    {"say": "Activated: {{outputs.activate_account}}"},
    {"say": "{{outputs.create_account.status}}: send me the code from your email."},
]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


@pytest.fixture
def model(sandbox: Sandbox) -> Iterator[openai.OpenAI]:
    """The operator's own OpenAI client on the emulator (to read the transcript); the
    emulator serves the deprecated Assistants API on purpose."""
    with (
        quiet_assistants(),
        openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0) as made,
    ):
        yield made


def command(sandbox: Sandbox, *argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, pointed at the sandbox without any MultiMail key: a first
    signup has none."""
    return cli_process(sandbox, {"MULTIMAIL_API_KEY": None}, *argv)


def signup_assistant(sandbox: Sandbox, script: str, turns: list[dict[str, Any]]) -> str:
    sandbox.openai.register_script(script, turns)
    argv = ("--profile", "signup", "--schema-version", "v2")
    made = command(sandbox, "assistant", "create", "--model", f"scripted:{script}", *argv)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def printed(*finished: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(f.stdout + f.stderr for f in finished)


def confirms(sandbox: Sandbox) -> int:
    """How many activations (``POST /v1/confirm``) MultiMail has served."""
    routes = sandbox.multimail.counters()["routes"]
    return sum(n for route, n in routes.items() if route.endswith("/v1/confirm"))


def transcript(model: openai.OpenAI, outcome: Mapping[str, Any]) -> str:
    """Everything the model's side holds of a run: its thread and the tool outputs."""
    thread, run = outcome["thread_id"], outcome["run_id"]
    return json.dumps([thread_texts(model, thread), submitted_outputs(model, thread, run)])


def test_a_signup_run_puts_the_new_key_in_the_private_file_only(
    sandbox: Sandbox, model: openai.OpenAI, tmp_path: Path
) -> None:
    assistant = signup_assistant(sandbox, "cli-signup", SIGNUP_SCRIPT)
    secrets = tmp_path / "secrets.jsonl"
    run = ["run", "--assistant", assistant, "--json"]  # the profile it was created with
    run += ["--secrets-file", str(secrets)]
    created = command(sandbox, *run, "--message", "Sign me up as Acme Robots.")
    assert created.returncode == 0, created.stderr
    first = json.loads(created.stdout)
    assert first["text"] == "confirmation_sent: send me the code from your email."
    assert secrets.read_text() == ""  # the solved challenge and the signup carry no secret

    # the operator reads the code in their email and tells the assistant on the same thread
    [code] = [c["id"] for c in sandbox.multimail.codes("confirm_account")]
    activated = command(sandbox, *run, "--thread", first["thread_id"], "--message", code)
    assert confirms(sandbox) == 1
    assert activated.returncode == 0, activated.stderr
    second = json.loads(activated.stdout)
    assert second["thread_id"] == first["thread_id"]
    texts = thread_texts(model, first["thread_id"])
    assert texts.count(code) == 1  # the pasted code, once, after the first run's answer
    assert texts.index(code) > texts.index(first["text"])

    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    [line] = [json.loads(text) for text in secrets.read_text().splitlines()]
    [call] = second["tool_results"]
    assert (line["tool"], line["call_id"], line["field"]) == (
        "activate_account",
        call["call_id"],
        "api_key",
    )
    key = line["value"]
    assert call["ok"] is True
    shown = json.loads(call["output"])  # what the model was given
    assert shown["api_key"]["withheld"].startswith("handed to the operator")
    assert key not in printed(created, activated)
    assert key not in transcript(model, first) + transcript(model, second)
    note = f"note: api_key of activate_account (call {call['call_id']}) appended to {secrets}"
    assert note in activated.stderr.splitlines()
    with mailbox_api(sandbox, key) as owner:  # the key in the file is the account's
        me = owner.get("/v1/account")
    assert me.status_code == 200, me.text
    assert OPERATOR in me.text


def test_without_a_secrets_file_activation_is_refused_before_any_request(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    turns = [
        turn("activate_account", {"code": "123456"}),
        {"say": "{{outputs.activate_account.error.type}}"},
    ]
    assistant = signup_assistant(sandbox, "cli-activate-only", turns)
    before = confirms(sandbox)
    argv = ("run", "--assistant", assistant, "--message", "go", "--json")
    finished = command(sandbox, *argv)
    assert finished.returncode == 0, finished.stderr
    outcome = json.loads(finished.stdout)
    assert outcome["text"] == "secret_handoff_unavailable"
    [call] = outcome["tool_results"]
    assert (call["ok"], call["error_type"]) == (False, "secret_handoff_unavailable")
    assert confirms(sandbox) == before  # MultiMail never saw the call
    [note] = [line for line in finished.stderr.splitlines() if "--secrets-file" in line]
    assert note.startswith("note: activate_account answer with a secret for the operator")


@pytest.mark.parametrize("bad", ["symlink", "shared"])
def test_a_secrets_file_that_is_not_private_stops_the_run_in_one_line(
    sandbox: Sandbox, tmp_path: Path, bad: str
) -> None:
    path = tmp_path / "secrets.jsonl"
    if bad == "symlink":
        (tmp_path / "target").write_text("")
        path.symlink_to(tmp_path / "target")
        says = "is a symlink"
    else:
        path.write_text("")
        path.chmod(0o644)
        says = "is open to group or others (mode 0644)"
    argv = ("run", "--assistant", "asst_x", "--message", "hi", "--secrets-file", str(path))
    finished = command(sandbox, *argv)
    assert finished.returncode == 2
    assert "Traceback" not in finished.stderr
    [line] = finished.stderr.splitlines()
    assert line.startswith(f"mm-assistants run: --secrets-file {path} {says}")
    assert finished.stdout == ""
