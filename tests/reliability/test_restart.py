"""Restart: ``examples/worker.py`` runs as a subprocess against a sandbox in this process,
is killed (SIGKILL) while a reply it sent is held for a human, and is started again on the
same SQLite pending store with ``--resolve-pending``, as cron would after a crash.

Whatever happens, the held reply is sent once at most; the decision must reach the run's
thread once, through the pending store.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from mm_assistants import SQLitePendingStore, create_assistant
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox
from tests.reliability.support import READ_ROUTE, quiet_assistants

WORKER = Path(__file__).resolve().parents[2] / "examples" / "worker.py"
TIMEOUT = 60.0
RUN_EXPIRY = 600  # the emulator's default, seconds


class Worker:
    """``examples/worker.py`` in a subprocess; its output read line by line as it comes."""

    def __init__(self, sandbox: Sandbox, cwd: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-u", str(WORKER), *args],
            env={**os.environ, **sandbox.environment()},
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, name="worker-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no last words."""
        self.process.kill()
        self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)

    def finish(self) -> int:
        """Wait for the worker to exit on its own; its exit code."""
        code = self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        return code

    def errors(self) -> str:
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def until(check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    """``check()`` once it is truthy; bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def resolve_pending(sandbox: Sandbox, cwd: Path) -> tuple[int, str, str]:
    worker = Worker(sandbox, cwd, "--resolve-pending", "--pending-db=pending.db")
    try:
        code = worker.finish()
        return code, worker.output, worker.errors()
    finally:
        worker.close()


def deliveries(sandbox: Sandbox) -> list[str]:
    """Ids of the emails that left the sandbox."""
    return [e["email_id"] for e in sandbox.multimail.sent() if e["kind"] == "delivery"]


def thread_texts(sandbox: Sandbox, thread_id: str) -> list[str]:
    with openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url) as client:
        page = client.beta.threads.messages.list(thread_id, order="asc", limit=100)
    return ["".join(p.text.value for p in m.content if p.type == "text") for m in page.data]


def approved_text(email_id: str) -> str:
    return f"[MultiMail] The email {email_id} you sent earlier was approved by a human and sent."


def worker_sandbox() -> Sandbox:
    return Sandbox(
        multimail_settings=MultiMailSandboxSettings(scan_delay=0.1),
        openai_settings=OpenAIEmulatorSettings(poll_after_ms=20, run_expiry_seconds=RUN_EXPIRY),
    )


def customer_and_assistant(sandbox: Sandbox) -> str:
    """A customer's email in the inbox, and an assistant that answers the newest one."""
    sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject="Move our call?", markdown="Thursday 3 pm?"
    )
    with openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url) as client:
        assistant = create_assistant(client, model="gpt-4.1", mailbox_id=sandbox.mailbox_id)
    return str(assistant.id)


# -- killed in the middle of the approval wait ----------------------------------------------


@dataclass
class KilledMidWait:
    email_id: str
    recorded: list[Any]  # the pending store right after the kill
    resolved: tuple[int, str, str]  # the restarted worker's exit code, stdout, stderr
    delivered: list[str]
    thread_texts: list[str] | None


@pytest.fixture(scope="module")
def killed_mid_wait(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KilledMidWait]:
    cwd = tmp_path_factory.mktemp("killed-mid-wait")
    with quiet_assistants(), worker_sandbox() as sandbox:
        assistant_id = customer_and_assistant(sandbox)
        worker = Worker(
            sandbox, cwd, assistant_id, "--once", "--max-wait=60", "--pending-db=pending.db"
        )
        try:
            [held] = until(sandbox.multimail.pending, "the worker's reply to be held")
            looks = sandbox.counters.snapshot()["routes"].get(READ_ROUTE, 0)
            until(  # the wait has looked at the held reply at least once: it is waiting
                lambda: sandbox.counters.snapshot()["routes"].get(READ_ROUTE, 0) > looks,
                "the worker's approval wait to look at the held reply",
            )
            worker.kill()
        finally:
            worker.close()
        assert "run run_" not in worker.output, "the run ended before the kill"

        store = SQLitePendingStore(cwd / "pending.db")
        recorded = store.all()
        store.close()
        sandbox.multimail.decide(held["id"], "approve")
        sandbox.clock.advance(RUN_EXPIRY + 100)  # the abandoned run expires: its thread is free
        resolved = resolve_pending(sandbox, cwd)
        thread_id = next((r.thread_id for r in recorded if r.email_id == held["id"]), None)
        yield KilledMidWait(
            email_id=held["id"],
            recorded=recorded,
            resolved=resolved,
            delivered=deliveries(sandbox),
            thread_texts=thread_texts(sandbox, thread_id) if thread_id else None,
        )


def test_a_worker_killed_during_its_approval_wait_sends_the_reply_once(
    killed_mid_wait: KilledMidWait,
) -> None:
    code, _, errors = killed_mid_wait.resolved

    assert code == 0, errors
    assert killed_mid_wait.delivered == [killed_mid_wait.email_id]


def test_a_worker_killed_during_its_approval_wait_delivers_the_decision_after_restart(
    killed_mid_wait: KilledMidWait,
) -> None:
    email_id = killed_mid_wait.email_id
    _, output, _ = killed_mid_wait.resolved

    assert [r.email_id for r in killed_mid_wait.recorded] == [email_id], (
        "the killed worker left no record of the held reply in its pending store"
    )
    assert f"late decision posted: {email_id} approved" in output
    assert killed_mid_wait.thread_texts is not None
    assert killed_mid_wait.thread_texts[-1] == approved_text(email_id)


# -- killed after the wait ended undecided ------------------------------------------------


def test_a_worker_killed_after_its_wait_ended_delivers_the_decision_once_restarted(
    tmp_path: Path,
) -> None:
    with worker_sandbox() as sandbox:
        assistant_id = customer_and_assistant(sandbox)
        # one round whose wait gives up at once, then a long sleep before the next round
        worker = Worker(
            sandbox,
            tmp_path,
            assistant_id,
            "--max-wait=0.5",
            "--every=600",
            "--pending-db=pending.db",
        )
        try:
            ended = until(
                lambda: re.search(r"run run_\w+ on (thread_\w+): completed", worker.output),
                "the worker's first round to end",
            )
            worker.kill()
        finally:
            worker.close()
        thread_id = ended[1]
        held = re.search(r"approval (em_\w+): pending", worker.output)
        assert held is not None, worker.output
        email_id = held[1]

        sandbox.multimail.decide(email_id, "approve")
        first = resolve_pending(sandbox, tmp_path)
        second = resolve_pending(sandbox, tmp_path)
        texts = thread_texts(sandbox, thread_id)
        delivered = deliveries(sandbox)

    assert first[0] == 0, first[2]
    assert f"late decision posted: {email_id} approved" in first[1]
    assert "0 approvals still pending" in first[1]
    assert second[0] == 0, second[2]
    assert "late decision posted" not in second[1]  # delivered once, not on every restart
    assert [text for text in texts if text.startswith("[MultiMail]")] == [approved_text(email_id)]
    assert delivered == [email_id]
