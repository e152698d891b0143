"""Every code block of the README runs as printed against ``mm-assistants sandbox``.

The sandbox is the real command (``mm-assistants sandbox --port 0``) in a subprocess; the
``export`` lines it prints are the blocks' whole environment (with ``PATH``, whose first
entry is this venv's scripts, and a private ``HOME``). A python block runs in
``python -c``, a bash block in ``bash -e``, a block that defines ``test_*`` functions under
pytest, each in a fresh folder. A new block is run by default: a block that is not meant to
run must be listed in `SKIPPED` with the reason. Blocks that answer an email get a fresh
email first (through the README's own inbound example) and a reviewer that approves what
they hold, as the README tells a user to do.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.readme import Block, code_blocks

RUNNABLE = ("python", "bash")
#: Blocks that show what a program prints; never code.
OUTPUTS = ("text", "")
#: Blocks not run here: (a text that only that block contains, why).
SKIPPED = [
    ("make demo", "the project's make targets: `make test` runs this very suite"),
    (
        'pip install "mm-assistants[sandbox]"',
        "installs from the package index; tests/test_packaging.py installs the built wheel"
        " and checks the extras the Install table names",
    ),
    (
        "mm-assistants sandbox --port 8025",
        "a server that runs until Ctrl-C: this module starts this very command (on --port 0)"
        " and runs every other block against it",
    ),
    (
        "export OPENAI_BASE_URL=http://127.0.0.1:8025",
        "the shape of the lines the sandbox prints (keys elided): the real lines are parsed"
        " from the command's output and are every block's environment",
    ),
    (
        "export MULTIMAIL_API_KEY=mm_live_...",
        "a real account's oversight key (a placeholder); tests/cli/test_approvals_cmd.py runs"
        " the approvals commands against the sandbox",
    ),
    (
        'registry.bind(\n    "send_email"',
        "talks to neither MultiMail nor OpenAI: tests/tools/test_readme_example.py runs it as"
        " printed and checks what it binds",
    ),
    (
        "calls_from_run(run)",
        "a fragment of the caller's Assistants loop (its `run` in requires_action, its"
        " `client`): tests/dispatch/test_readme_embedding.py runs it as printed",
    ),
    (
        "calls_from_response(response)",
        "a fragment of the caller's Responses loop (its `client`, `model`, `text`):"
        " tests/dispatch/test_readme_embedding.py runs it as printed",
    ),
    (
        "calls_from_chat_message(message)",
        "Chat Completions, which the sandbox does not emulate:"
        " tests/dispatch/test_readme_embedding.py runs it as printed against mocks",
    ),
    (
        "webhook_router(receiver)",
        "a web app: it needs a subscription's signing secret and a port the sandbox delivers"
        " to; tests/test_readme_webhooks.py serves it as printed against the sandbox",
    ),
    (
        "docker run -d --name mm-postgres",
        "starts a PostgreSQL with docker, which CI does not have: tests/fleet run a throwaway"
        " cluster and make its tables with this very `mm-assistants state init`",
    ),
    (
        "examples/fleet_web.py --port 8000",
        "a server that runs until Ctrl-C, subscribed on the sandbox:"
        " tests/fleet/test_fleet_processes.py runs examples/fleet_web.py the same way",
    ),
    (
        "fleet_worker.py --run",
        "a worker that runs until Ctrl-C, against PostgreSQL:"
        " tests/fleet/test_fleet_processes.py runs examples/fleet_worker.py with --run",
    ),
    (
        "fleet_worker.py --look-every 60",
        "a worker that runs until Ctrl-C: tests/fleet/test_fleet_processes.py runs three",
    ),
    (
        "PostgresState(os.environ",
        "needs a PostgreSQL DSN: examples/fleet_worker.py wires the same pieces and"
        " tests/fleet/test_fleet_processes.py runs it",
    ),
    (
        'app = Celery("mm_fleet"',
        "a fragment of examples/celery_app.py (its imports and build_work):"
        " tests/examples/test_celery_example.py loads that module and checks what install sets",
    ),
    (
        'queue = Queue("mm", connection=redis)',
        "a sketch for RQ, which is not a dependency: tests/inbound/test_work.py runs the"
        " FleetWork functions it calls",
    ),
    (
        "python examples/agents_inbox.py",
        "runs from a checkout (the examples folder is not installed):"
        " tests/agents/test_example.py runs examples/agents_inbox.py against the sandbox",
    ),
    (
        "create_review_app(queue",
        "an ASGI app to mount behind your own login, with your OVERSIGHT_KEY:"
        " tests/review/test_readme_review.py serves it against the sandbox",
    ),
]
#: How long one block may take (an answering block waits for the reviewer below).
BLOCK_TIMEOUT = 120.0
SCRIPTS = Path(sys.executable).parent


@dataclass(frozen=True)
class RunningSandbox:
    """The sandbox command's process and what it printed."""

    exports: dict[str, str]
    oversight_key: str
    home: Path

    def environment(self) -> dict[str, str]:
        """Only the printed exports, a PATH that finds this venv's scripts, a private HOME."""
        path = f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
        return {"PATH": path, "HOME": str(self.home), "LANG": "C.UTF-8", **self.exports}


@dataclass(frozen=True)
class Ran:
    """A block's exit code and output."""

    returncode: int
    stdout: str
    stderr: str

    def check(self, block: Block) -> Ran:
        assert self.returncode == 0, f"{block.name} failed:\n{self.stdout}\n{self.stderr}"
        return self


def parse_printout(text: str) -> tuple[dict[str, str], str]:
    """The ``export`` variables and the oversight key from the sandbox's printout."""
    exports: dict[str, str] = {}
    oversight = ""
    for line in text.splitlines():
        words = shlex.split(line)
        if words[:1] == ["export"]:
            for word in words[1:]:
                name, _, value = word.partition("=")
                exports[name] = value
        if words[:2] == ["key", "oversight"]:
            oversight = words[2]
    return exports, oversight


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    folder = tmp_path_factory.mktemp("readme-sandbox")
    out, err = folder / "stdout", folder / "stderr"
    home = folder / "home"
    home.mkdir()
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [str(SCRIPTS / "mm-assistants"), "sandbox", "--port", "0"],
            stdout=stdout,
            stderr=stderr,
            cwd=folder,
            env={"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home)},
        )
    try:
        deadline = time.monotonic() + 30
        while "Ctrl-C stops" not in out.read_text():
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.05)
        exports, oversight = parse_printout(out.read_text())
        assert {"MULTIMAIL_API_URL", "MULTIMAIL_MAILBOX_ID", "MM_SANDBOX_TOKEN"} <= set(exports)
        assert oversight
        yield RunningSandbox(exports, oversight, home)
    finally:
        process.terminate()  # SIGTERM: the command stops the sandbox and exits
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(block: Block, sandbox: RunningSandbox, folder: Path) -> Ran:
    """Run ``block`` as printed, in ``folder``, with only the sandbox's environment."""
    if block.language == "python" and "\ndef test_" in f"\n{block.text}":
        (folder / "test_readme_block.py").write_text(block.text, encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command.append("test_readme_block.py")
    elif block.language == "python":
        command = [sys.executable, "-c", block.text]
    else:
        command = ["bash", "-e", "-c", block.text]
    done = subprocess.run(
        command,
        cwd=folder,
        env=sandbox.environment(),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def the_block(marker: str) -> Block:
    """The one README block that contains ``marker``."""
    (block,) = [block for block in code_blocks() if marker in block.text]
    return block


def skip_reason(block: Block) -> str | None:
    return next((why for marker, why in SKIPPED if marker in block.text), None)


class Approver:
    """A reviewer in another thread: approves every held email with the oversight key the
    sandbox printed, as a user does on the review page or with ``approvals approve``."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.approved: list[str] = []
        self._stop = threading.Event()
        self._client = httpx.Client(
            base_url=sandbox.exports["MULTIMAIL_API_URL"],
            headers={"Authorization": f"Bearer {sandbox.oversight_key}"},
            timeout=10,
        )
        self._thread = threading.Thread(target=self._work, name="readme-approver", daemon=True)

    def _work(self) -> None:
        while not self._stop.wait(0.1):
            try:
                held = self._client.get("/v1/oversight/pending").json()["emails"]
                for email in held:
                    body = {"email_id": email["id"], "action": "approve"}
                    if self._client.post("/v1/oversight/decide", json=body).is_success:
                        self.approved.append(email["id"])
            except httpx.HTTPError:
                continue  # a human looks again; the block's own timeout bounds the wait

    def __enter__(self) -> Approver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._client.close()


def inbox(sandbox: RunningSandbox) -> dict[str, dict[str, Any]]:
    """The sandbox mailbox's inbound emails by id, listed with the printed key (a listing
    leaves them unread)."""
    mailbox = sandbox.exports["MULTIMAIL_MAILBOX_ID"]
    response = httpx.get(
        f"{sandbox.exports['MULTIMAIL_API_URL']}/v1/mailboxes/{mailbox}/emails",
        params={"direction": "inbound", "limit": 100},
        headers={"Authorization": f"Bearer {sandbox.exports['MULTIMAIL_API_KEY']}"},
        timeout=10,
    )
    response.raise_for_status()
    return {email["id"]: email for email in response.json()["emails"]}


# -- what each block must visibly do (a block not named here must exit 0) ---------------


def answers_the_newest_email(block: Block, sandbox: RunningSandbox, folder: Path) -> None:
    """A fresh email in (the README's curl example), the block run with a reviewer at hand:
    it ends completed, tells of the reply, and prints the approval."""
    put = run(the_block(CURL_INBOUND), sandbox, folder).check(block)
    email_id = json.loads(put.stdout)["id"]
    with Approver(sandbox) as approver:
        ran = run(block, sandbox, folder).check(block)
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("completed "), ran.stdout
    assert email_id in lines[0], ran.stdout
    assert "approved and sent" in lines[0], ran.stdout
    (approved,) = approver.approved
    assert f"{approved} approved None" in lines, ran.stdout


def puts_an_email_in_the_inbox(block: Block, sandbox: RunningSandbox, folder: Path) -> None:
    ran = run(block, sandbox, folder).check(block)
    printed = ran.stdout.split()
    email_id = json.loads(ran.stdout)["id"] if block.language == "bash" else printed[0]
    assert inbox(sandbox)[email_id]["status"] == "unread"


def lists_and_checks_schemas(block: Block, sandbox: RunningSandbox, folder: Path) -> None:
    ran = run(block, sandbox, folder).check(block)
    assert "send_email" in ran.stdout


def passes_under_pytest(block: Block, sandbox: RunningSandbox, folder: Path) -> None:
    ran = run(block, sandbox, folder).check(block)
    assert re.search(r"\b1 passed\b", ran.stdout), ran.stdout


def streams_the_answer(block: Block, sandbox: RunningSandbox, folder: Path) -> None:
    """The streamed driver's block on a fresh email: the calls show as the model makes
    them, the held reply's wait shows as it begins, and the run still ends completed."""
    put = run(the_block(CURL_INBOUND), sandbox, folder).check(block)
    email_id = json.loads(put.stdout)["id"]
    with Approver(sandbox) as approver:
        ran = run(block, sandbox, folder).check(block)
    (approved,) = approver.approved
    lines = ran.stdout.splitlines()
    assert lines[-1] == "completed", ran.stdout
    order = ["[the model calls read_email]", "[the model calls reply_email]"]
    order.append(f"[{approved} is held for a human]")
    order.append("[reply_email: done]")
    assert [lines.index(line) for line in order] == sorted(lines.index(line) for line in order)
    assert email_id in ran.stdout, ran.stdout  # the streamed answer names the email


def answers_through_the_agents_sdk(block: Block, sandbox: RunningSandbox, folder: Path) -> None:
    """The Agents SDK block on a fresh email: one reply, held and approved, and the answer
    that says so."""
    put = run(the_block(CURL_INBOUND), sandbox, folder).check(block)
    email_id = json.loads(put.stdout)["id"]
    with Approver(sandbox) as approver:
        ran = run(block, sandbox, folder).check(block)
    assert len(approver.approved) == 1, ran.stdout
    assert email_id in ran.stdout, ran.stdout
    assert "approved and sent" in ran.stdout, ran.stdout


CURL_INBOUND = 'curl -sS --fail-with-body "$MULTIMAIL_API_URL/sandbox/inbound"'
Expectation = Callable[[Block, RunningSandbox, Path], None]
EXPECTED: list[tuple[str, Expectation]] = [
    ("Answer the newest email in my inbox.", answers_the_newest_email),
    ("create_thread_and_run(assistant.id", answers_the_newest_email),
    ("stream=True, on_event=show", streams_the_answer),
    ("Runner.run(agent", answers_through_the_agents_sdk),
    (CURL_INBOUND, puts_an_email_in_the_inbox),
    ('"/sandbox/inbound",', puts_an_email_in_the_inbox),
    ("mm-assistants schemas check", lists_and_checks_schemas),
    ("def test_my_agent_can_read_its_inbox", passes_under_pytest),
]


def exits_cleanly(block: Block, sandbox: RunningSandbox, folder: Path) -> None:
    run(block, sandbox, folder).check(block)


def expectation(block: Block) -> Expectation:
    return next((check for marker, check in EXPECTED if marker in block.text), exits_cleanly)


BLOCKS = [block for block in code_blocks() if block.language in RUNNABLE]


@pytest.mark.parametrize("block", [pytest.param(b, id=b.name) for b in BLOCKS])
def test_the_block_runs_as_printed(block: Block, sandbox: RunningSandbox, tmp_path: Path) -> None:
    reason = skip_reason(block)
    if reason is not None:
        pytest.skip(f"not run here: {reason}")
    expectation(block)(block, sandbox, tmp_path)


def test_every_block_is_code_or_output() -> None:
    # a block in another language would slip past the runner: name it here first
    unknown = [b.name for b in code_blocks() if b.language not in (*RUNNABLE, *OUTPUTS)]
    assert not unknown


@pytest.mark.parametrize("marker", [marker for marker, _ in SKIPPED + EXPECTED])
def test_every_listed_block_is_still_in_the_readme(marker: str) -> None:
    # a stale entry would let its block's replacement go unchecked or unskipped
    assert len([b for b in BLOCKS if marker in b.text]) == 1


def test_the_fifteen_line_snippet_is_fifteen_lines_at_most() -> None:
    block = the_block("Answer the newest email in my inbox.")
    assert block.section == "Drive a run in fifteen lines"
    assert len([line for line in block.text.splitlines() if line.strip()]) <= 15


def test_no_block_that_talks_to_the_sandbox_names_a_made_up_mailbox() -> None:
    # mbx_1 does not exist on the sandbox: a block that reaches it takes the printed one
    for block in BLOCKS:
        if skip_reason(block) is None and "MultiMailClient()" in block.text:
            assert 'mailbox_id="mbx_1"' not in block.text, block.name
