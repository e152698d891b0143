"""The Celery fleet end to end on the real `FleetWork`, with real services only: a throwaway
redis-server, PostgreSQL, the sandbox (MultiMail with a ``gated_send`` mailbox, the OpenAI
emulator), the web side (`RingingWebhookReceiver` on loopback, subscribed to the sandbox's
signed webhooks), two ``celery worker`` processes (prefork, one child each) and a beat,
all loading tests/celery/e2e_app.py.

An inbound email becomes a Responses run in a worker; its reply is held for a person, so
the run parks (``MM_E2E_PARK_AFTER``) and frees its worker; an approval through the
sandbox's review control rings its resume (the web side's bell, not the beat's sweep),
which runs on whichever worker is free, and the run completes.
A worker SIGKILLed while its run is parked loses nothing: the other one finishes it.
Exactly one reply is sent per inbound email, and each inbound email is posted to its
conversation once.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox
from tests.e2e.inbound import operator_post
from tests.redis_server import PASSWORD, RedisServer

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.celery.e2e_app"
WAIT = 30.0
PARK_AFTER = 1.5
EMAIL_ID = re.compile(r"email_id: (em_\w+)")


class ReplyModel:
    """The scripted model ``scripted:reply``: one ``reply_email`` per inbound email, then a
    final answer. Counts, per inbound email, the runs started on it (turn 0), the final
    answers, and the most times it appeared in one conversation (twice: posted twice)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self.posted: Counter[str] = Counter()

    def __call__(self, state: Any) -> dict[str, Any]:
        found = [m for msg in state.messages if msg.role == "user"
                 for m in EMAIL_ID.findall(msg.text)]  # fmt: skip
        if not found:
            return {"say": "Nothing to answer."}
        email_id = found[-1]
        answered = any(t.name == "reply_email" for t in state.tool_outputs)
        with self.lock:
            for seen in set(found):
                self.posted[seen] = max(self.posted[seen], found.count(seen))
            if state.turn == 0:
                self.started[email_id] += 1
            if answered:
                self.finished[email_id] += 1
        if answered:
            return {"say": "Answered; the reply went to a person first."}
        return {"call": "reply_email", "arguments": {"email_id": email_id, "markdown": "Noted."}}


class Workers:
    """``celery worker`` (and beat) processes of tests/celery/e2e_app.py, each in its own
    session with its own log file; `stop` SIGKILLs every group, whatever happened."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env, self.folder = env, folder
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "celery", "-A", APP, *args]
        with (self.folder / f"{name}.log").open("wb") as log:  # the child keeps its own copy
            process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.processes[name] = process
        return process

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        return self.start(
            name, "worker", "--pool=prefork", "-c", "1", "--prefetch-multiplier=1", "-O", "fair",
            "-Q", "mm-assistants", "-n", f"{name}@%h", "--loglevel=INFO",
            "--without-gossip", "--without-mingle",
        )  # fmt: skip

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- {n} ---\n{self.log(n)}" for n in self.processes)

    def kill(self, name: str) -> None:
        """SIGKILL the worker's main process and its pool child at once."""
        process = self.processes[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes.values():
            process.wait(timeout=10)


@pytest.fixture
def model() -> ReplyModel:
    return ReplyModel()


@pytest.fixture
def sandbox(model: ReplyModel) -> Iterator[Sandbox]:
    with Sandbox(
        multimail_settings=MultiMailSandboxSettings(
            scan_delay=0.0, settle_interval=0.05, reply_dedupe_window=0.0
        ),
        openai_settings=OpenAIEmulatorSettings(
            model_latency=0.05, poll_after_ms=20, scripts={"reply": model}
        ),
        webhook_retry_delays=(0.5, 1.0, 2.0),
    ) as started:
        yield started


@pytest.fixture
def fleet_env(
    sandbox: Sandbox, redis_server: RedisServer, pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """The workers' environment, also set in this process for the web side."""
    env = {
        **sandbox.environment(),
        "MM_E2E_BROKER": redis_server.url,
        "MM_ASSISTANTS_DSN": pg_dsn,
        "MM_E2E_PARK_AFTER": str(PARK_AFTER),
        # beat runs, but its sweep is too rare to be what resumes a run within WAIT: the
        # decision's own bell must (a sweep still runs once as each worker gets ready)
        "MM_E2E_BEAT": "120",
        "PYTHONPATH": str(ROOT),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop(APP, None)  # a fresh app on this test's broker and knobs
    yield {**os.environ, **env}
    sys.modules.pop(APP, None)


@pytest.fixture
def web(sandbox: Sandbox, fleet_env: dict[str, str], pg_dsn: str) -> Iterator[str]:
    """The web side on loopback: signed webhooks verified, inbound mail admitted in
    PostgreSQL before the 2xx and rung after it, decisions recorded for the fleet."""
    from starlette.applications import Starlette

    from mm_assistants import ApprovalHub
    from mm_assistants.celery import RingingWebhookReceiver
    from mm_assistants.sandbox.serving import LoopbackServer
    from mm_assistants.state.postgres import PostgresDecisionStore, PostgresState
    from mm_assistants.webhooks.starlette import webhook_route

    e2e = importlib.import_module(APP)
    state = PostgresState(pg_dsn)
    state.database.ensure_schema()
    hub = ApprovalHub(decisions=PostgresDecisionStore(state.database))
    work = e2e.build_work()
    server = LoopbackServer(Starlette(), name="mm-e2e-web")
    try:
        server.start()
        answer = operator_post(
            sandbox,
            "/v1/webhooks",
            {
                "url": f"{server.url}/multimail/webhooks",
                "events": ["message.received", "oversight.approved", "oversight.rejected"],
            },
        )
        answer.raise_for_status()
        receiver = RingingWebhookReceiver(
            answer.json()["signing_secret"], work=work, tasks=e2e.tasks, hub=hub,
            replay_guard=state.seen,
        )  # fmt: skip
        server.app.router.routes.append(webhook_route(receiver))
        yield pg_dsn
    finally:
        server.stop()
        hub.close()
        work.close()
        state.close()


def until(check: Callable[[], Any], workers: Workers, what: str, wait: float = WAIT) -> Any:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} within {wait:g} s; logs:\n{workers.logs()[-6000:]}")


def parked(dsn: str, thread: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT parked FROM mm_route_threads WHERE mm_thread = %s", (thread,)
        ).fetchone()
    return row is not None and row[0] is not None


def replies(sandbox: Sandbox, inbound_id: str) -> list[dict[str, Any]]:
    """The outbound emails answering ``inbound_id``, as the sandbox keeps them."""
    store = sandbox.multimail._ctx.store  # what really exists, not an API view
    return [
        e for e in store.children("emails", sandbox.mailbox_id)
        if e.get("direction") == "outbound" and e.get("in_reply_to") == inbound_id
    ]  # fmt: skip


def decide(sandbox: Sandbox, email_id: str) -> None:
    """Approve a held reply through the sandbox's review control (HTTP, as an operator)."""
    answer = httpx.post(
        f"{sandbox.base_url}/sandbox/decide", headers=sandbox.control_headers,
        json={"email_id": email_id, "action": "approve"}, timeout=10,
    )  # fmt: skip
    answer.raise_for_status()


def done(workers: Workers, name: str, task: str, key: str = r"[^)]+") -> list[tuple[str, str]]:
    """(key, action) of each ``mm_assistants.<task>(key)`` worker ``name`` logged as done."""
    line = re.compile(rf"mm_assistants\.{task}\(({key})\): (\w+)")
    return line.findall(workers.log(name))


def ran_on(workers: Workers, names: list[str], task: str, key: str, action: str) -> list[str]:
    """The workers that did ``task(key)`` (any key: ``""``) with ``action``."""
    pattern = re.escape(key) if key else r"[^)]+"
    return [n for n in names if action in dict(done(workers, n, task, pattern)).values()
            and (not key or (key, action) in done(workers, n, task, pattern))]  # fmt: skip


def arrive_and_park(
    sandbox: Sandbox, dsn: str, workers: Workers, subject: str
) -> tuple[str, str, str]:
    """An inbound email that became a run whose held reply parked: (inbound, thread, reply)."""
    email = sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject=subject, markdown="Can you confirm my order?"
    )
    thread = str(email["thread_id"])
    until(lambda: parked(dsn, thread), workers, f"the run on {subject!r} did not park")
    [reply] = replies(sandbox, email["id"])
    assert reply["status"] == "pending_send_approval"  # held for a person, not sent
    return str(email["id"]), thread, str(reply["id"])


@pytest.mark.slow
def test_an_inbound_email_parks_is_approved_and_finishes_even_when_its_worker_dies(
    sandbox: Sandbox, model: ReplyModel, web: str, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    dsn, names = web, ["w1", "w2"]
    workers = Workers(fleet_env, tmp_path)
    try:
        for name in names:
            workers.worker(name)
        workers.start("beat", "beat", "-s", str(tmp_path / "schedule"), "--loglevel=INFO")
        until(lambda: all("ready" in workers.log(n) for n in names), workers, "workers not ready")

        # 1. parked, then approved: a free worker resumes it and the run completes
        first, thread, reply = arrive_and_park(sandbox, dsn, workers, "Order 1")
        [ran] = ran_on(workers, names, "route_inbound", thread, "started")
        decided = time.monotonic()
        decide(sandbox, reply)
        until(lambda: model.finished[first] == 1, workers, "the approved run did not complete")
        print(f"approval to a finished run: {time.monotonic() - decided:.2f} s")
        until(lambda: not parked(dsn, thread), workers, "the thread stayed parked")
        until(lambda: ran_on(workers, names, "resume_run", "", "resumed"), workers, "no resume")

        # 2. parked, its worker SIGKILLed (main process and pool child), then approved:
        # the other worker finishes it
        second, thread, reply = arrive_and_park(sandbox, dsn, workers, "Order 2")
        [ran] = ran_on(workers, names, "route_inbound", thread, "started")
        workers.kill(ran)
        [survivor] = [n for n in names if n != ran]
        before = len(done(workers, survivor, "resume_run"))
        decided = time.monotonic()
        decide(sandbox, reply)
        until(lambda: model.finished[second] == 1, workers, "the other worker did not finish it")
        print(f"approval to a finished run, its worker dead: {time.monotonic() - decided:.2f} s")
        until(lambda: not parked(dsn, thread), workers, "the thread stayed parked")
        until(
            lambda: "resumed" in [a for _, a in done(workers, survivor, "resume_run")[before:]],
            workers, "the survivor did not resume it",
        )  # fmt: skip

        time.sleep(1.5)  # a late duplicate (a second reply, a second run) would show now
        for inbound in (first, second):
            [sent] = [sandbox.multimail.email(e["id"]) or {} for e in replies(sandbox, inbound)]
            assert sent["status"] in ("sent", "read"), sent["status"]  # read: delivered here
            assert model.started[inbound] == 1  # one run per inbound email
            assert model.posted[inbound] == 1  # posted to its conversation once
            assert model.finished[inbound] == 1
        with psycopg.connect(dsn, autocommit=True) as conn:  # no inbound message left behind
            assert conn.execute("SELECT count(*) FROM mm_route_queue").fetchone() == (0,)
        logs = workers.logs()
        secrets = [PASSWORD, sandbox.keys["send"], sandbox.keys["admin"]]
        secrets += [p for p in [urlsplit(dsn).password] if p]
        for secret in secrets:
            assert secret not in logs
    finally:
        workers.stop()
