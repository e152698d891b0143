"""The programs in ``examples/``, run as a user runs them: as subprocesses whose
environment points at an in-process sandbox (the FastAPI app in-process, through its
lifespan). Each test checks what the user would see."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from mm_assistants import (
    AssistantsSunsetWarning,
    MultiMailClient,
    SQLitePendingStore,
    create_assistant,
)
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox
from mm_assistants.state import InboundMessage, SQLiteRouteStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 60


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {"multimail_settings": MultiMailSandboxSettings(scan_delay=0.1)}


@pytest.fixture(autouse=True)
def assistants_deprecation() -> Iterator[None]:
    # The tests' own Assistants calls (the SDK warns on each) are not what is under test.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The Assistants API is deprecated")
        warnings.filterwarnings("ignore", message="deprecated$", category=DeprecationWarning)
        warnings.simplefilter("ignore", AssistantsSunsetWarning)
        yield


@pytest.fixture
def inbound(mm_sandbox: Sandbox) -> dict[str, Any]:
    """A customer's email waiting in the sandbox mailbox."""
    return mm_sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject="Move our call?", markdown="Thursday 3 pm?"
    )


@pytest.fixture
def sdk(mm_sandbox: Sandbox) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="sk-sandbox", base_url=mm_sandbox.openai_url) as client:
        yield client


class Reviewer(threading.Thread):
    """A human at the oversight queue: approves each held email it sees."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(name="test-reviewer", daemon=True)
        self.sandbox = sandbox
        self.decided: list[str] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        key, url = self.sandbox.keys["oversight"], self.sandbox.multimail_url
        with MultiMailClient(api_key=key, base_url=url) as client:
            while not self.stopped.wait(0.1):
                for email in client.request("GET", "/v1/oversight/pending").data["emails"]:
                    self.sandbox.multimail.decide(email["id"], "approve")
                    self.decided.append(email["id"])


@pytest.fixture
def reviewer(mm_sandbox: Sandbox) -> Iterator[Reviewer]:
    watcher = Reviewer(mm_sandbox)
    watcher.start()
    yield watcher
    watcher.stopped.set()
    watcher.join(5)


def run_example(
    sandbox: Sandbox, cwd: Path, name: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        env={**os.environ, **sandbox.environment()},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def assistant_id(sandbox: Sandbox, sdk: openai.OpenAI) -> str:
    return str(create_assistant(sdk, model="gpt-4.1", mailbox_id=sandbox.mailbox_id).id)


def test_create_assistant_prints_the_id_of_an_assistant_that_exists(
    mm_sandbox: Sandbox, sdk: openai.OpenAI, tmp_path: Path
) -> None:
    done = run_example(mm_sandbox, tmp_path, "create_assistant.py", "--name", "Inbox")

    assert done.returncode == 0, done.stderr
    found = re.search(r"assistant (asst_\w+): (\d+) tools", done.stdout)
    assert found is not None, done.stdout
    assistant = sdk.beta.assistants.retrieve(found[1])
    assert assistant.name == "Inbox"
    assert len(assistant.tools) == int(found[2]) == 14
    parameters = [tool.function.parameters for tool in assistant.tools]  # type: ignore[union-attr]
    assert all("mailbox_id" not in p["properties"] for p in parameters if p)  # pinned


def test_worker_drives_a_run_through_an_approved_reply(
    mm_sandbox: Sandbox,
    sdk: openai.OpenAI,
    inbound: dict[str, Any],
    reviewer: Reviewer,
    tmp_path: Path,
) -> None:
    done = run_example(mm_sandbox, tmp_path, "worker.py", assistant_id(mm_sandbox, sdk), "--once")

    assert done.returncode == 0, done.stderr
    assert "ok  check_inbox: HTTP 200" in done.stdout
    assert "ok  reply_email" in done.stdout
    held = re.search(r"approval (em_\w+): approved", done.stdout)
    assert held is not None, done.stdout
    assert reviewer.decided == [held[1]]
    assert re.search(r"run run_\w+ on thread_\w+: completed", done.stdout)
    assert "approved and sent" in done.stdout
    assert (tmp_path / "pending-approvals.sqlite3").exists()


def test_worker_runs_a_request_a_killed_worker_left_waiting(
    mm_sandbox: Sandbox,
    sdk: openai.OpenAI,
    inbound: dict[str, Any],
    reviewer: Reviewer,
    tmp_path: Path,
) -> None:
    # A worker asked for a run and was killed before it began: the request waits, stored.
    routes = SQLiteRouteStore(tmp_path / "pending-approvals.sqlite3")
    left = InboundMessage("request:left-behind", "Answer the newest email in my inbox.")
    assert routes.enqueue(left.email_id, "request:left-behind", left) == "queued"
    routes.close()

    done = run_example(mm_sandbox, tmp_path, "worker.py", assistant_id(mm_sandbox, sdk), "--once")

    assert done.returncode == 0, done.stderr
    runs = re.findall(r"run (run_\w+) on (thread_\w+): completed", done.stdout)
    assert len(runs) == 2, done.stdout  # the one left behind, then this round's
    assert len({thread for _, thread in runs}) == 2  # each request on its own thread
    routes = SQLiteRouteStore(tmp_path / "pending-approvals.sqlite3")
    assert routes.stalled() == []  # nothing left for the next start
    routes.close()


@pytest.mark.slow  # two runs of the worker and a wait that ends undecided
def test_worker_posts_a_decision_that_came_after_its_run(
    mm_sandbox: Sandbox, sdk: openai.OpenAI, inbound: dict[str, Any], tmp_path: Path
) -> None:
    # Nobody reviews during the run: the wait ends and the approval is recorded.
    first = run_example(
        mm_sandbox,
        tmp_path,
        "worker.py",
        assistant_id(mm_sandbox, sdk),
        "--once",
        "--max-wait=0.5",
        "--pending-db=late.db",
    )
    assert first.returncode == 0, first.stderr
    assert re.search(r"approval em_\w+: pending", first.stdout), first.stdout
    thread_id = re.search(r"on (thread_\w+): completed", first.stdout)
    assert thread_id is not None, first.stdout
    store = SQLitePendingStore(tmp_path / "late.db")
    [record] = store.all()
    store.close()

    mm_sandbox.multimail.decide(record.email_id, "reject", reason="Not before Friday")
    late = run_example(
        mm_sandbox, tmp_path, "worker.py", "--resolve-pending", "--pending-db=late.db"
    )

    assert late.returncode == 0, late.stderr
    assert f"late decision posted: {record.email_id} rejected" in late.stdout
    assert "0 approvals still pending" in late.stdout
    newest = sdk.beta.threads.messages.list(thread_id[1], order="desc", limit=1).data[0]
    text = newest.content[0].text.value  # type: ignore[union-attr]
    assert record.email_id in text
    assert "rejected by a human (reason: Not before Friday)" in text


def test_responses_assistant_completes_with_the_reply_approved(
    mm_sandbox: Sandbox, inbound: dict[str, Any], reviewer: Reviewer, tmp_path: Path
) -> None:
    done = run_example(mm_sandbox, tmp_path, "responses_assistant.py", "Answer my email")

    assert done.returncode == 0, done.stderr
    assert re.search(r"approval em_\w+: approved", done.stdout), done.stdout
    assert re.search(r"completed after 3 tool steps \(resp_\w+\)", done.stdout)
    assert "approved and sent" in done.stdout
    assert len(reviewer.decided) == 1


# -- the FastAPI backend, in-process ---------------------------------------------------


@pytest.fixture
def backend(mm_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    for name, value in mm_sandbox.environment().items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location(
        "fastapi_backend", EXAMPLES / "fastapi_backend.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "fastapi_backend", module)
    spec.loader.exec_module(module)
    with TestClient(module.app) as client:  # runs the lifespan: the dispatcher is built
        yield client


def test_backend_answers_health(backend: Any) -> None:
    answer = backend.get("/health")

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_backend_runs_responses_calls_and_answers_function_call_outputs(
    backend: Any, inbound: dict[str, Any]
) -> None:
    turn = {
        "id": "resp_1",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "check_inbox",
                "arguments": '{"limit": 5}',
            },
            {
                "type": "function_call",
                "call_id": "call_2",
                "name": "delete_everything",
                "arguments": "{}",
            },
        ],
    }

    answer = backend.post("/tool-calls", json=turn)

    assert answer.status_code == 200
    first, second = answer.json()["outputs"]
    assert (first["type"], first["call_id"]) == ("function_call_output", "call_1")
    assert json.loads(first["output"])["emails"][0]["id"] == inbound["id"]
    assert json.loads(second["output"])["error"]["type"] == "unknown_tool"


def test_backend_runs_chat_calls_and_answers_tool_messages(
    backend: Any, inbound: dict[str, Any]
) -> None:
    reply = {"email_id": inbound["id"], "markdown": "Thursday 3 pm works."}
    message = {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_9",
                "type": "function",
                "function": {"name": "reply_email", "arguments": json.dumps(reply)},
            },
        ],
    }

    answer = backend.post("/tool-calls", json=message)

    assert answer.status_code == 200
    [output] = answer.json()["outputs"]
    assert (output["role"], output["tool_call_id"]) == ("tool", "call_9")
    # a held reply answers at once: the backend does not wait for the human
    assert json.loads(output["content"])["status"] in ("pending_scan", "pending_send_approval")


def test_backend_refuses_a_body_without_tool_calls(backend: Any) -> None:
    answer = backend.post("/tool-calls", json={"id": "resp_1"})

    assert answer.status_code == 422
    assert "tool_calls" in answer.json()["detail"]


# -- the mailbox scope ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args"),
    [
        pytest.param("worker.py", ["asst_1", "--once"], id="worker"),
        pytest.param("responses_assistant.py", [], id="responses"),
    ],
)
def test_dispatching_examples_will_not_start_without_their_mailbox(
    mm_sandbox: Sandbox, tmp_path: Path, name: str, args: list[str]
) -> None:
    environment = {**os.environ, **mm_sandbox.environment()}
    del environment["MULTIMAIL_MAILBOX_ID"]
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )

    assert done.returncode == 2
    assert "MULTIMAIL_MAILBOX_ID" in done.stderr


def test_backend_keeps_the_model_to_its_mailbox(backend: Any) -> None:
    turn = {
        "id": "resp_2",
        "output": [
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "check_inbox",
                "arguments": '{"mailbox_id": "mbx_someone_else"}',
            },
        ],
    }

    answer = backend.post("/tool-calls", json=turn)

    assert answer.status_code == 200
    [output] = answer.json()["outputs"]
    assert json.loads(output["output"])["error"]["type"] == "mailbox_not_allowed"
