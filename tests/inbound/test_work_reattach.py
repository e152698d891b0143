"""A worker killed with a tool call in flight: the task that takes its thread over
re-attaches to that run (its dispatching checkpoint), it does not drive the mail again.

Found by the Celery reliability slice: a pool child SIGKILLed while its run waited for
a held send left a dispatching checkpoint and a claimed thread. Once the claim lapsed,
`FleetWork.route_inbound` recovered the thread's mail and started a second run, which
sent a second reply; the checkpoint was then listed by every sweep, forever.

The dying worker is a real process (tests/inbound/dying_worker.py) SIGKILLed right after
MultiMail answered its send, on SQLite stores shared through a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import Dispatcher
from mm_assistants.drivers import ResponsesDriver
from mm_assistants.inbound import FleetWork, InboundRouter
from mm_assistants.multimail import MultiMailClient, RetryPolicy
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox
from mm_assistants.state import (
    MemoryDecisionStore,
    SQLiteCheckpointStore,
    SQLitePendingStore,
    SQLiteRouteStore,
)
from tests.inbound.fleet_fakes import email, mentions

ROOT = Path(__file__).resolve().parents[2]
MODEL = "scripted:send"
SEND = {"to": ["bob@example.com"], "subject": "Re: your note", "markdown": "Noted."}
SCRIPTS = {
    "send": [{"call": "send_email", "arguments": SEND}, {"say": "Done: {{outputs.send_email}}"}]
}
PARKING = ApprovalPolicy(max_wait=10, margin=1, first_delay=0.05, max_interval=0.1, park_after=0.3)
LEASE = 1.0  # the thread's claim; the checkpoint's is half of it and lapses first


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {
        "multimail_settings": MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05),
        "openai_settings": OpenAIEmulatorSettings(
            model_latency=0.0, poll_after_ms=20, scripts=SCRIPTS
        ),
    }


class Requests:
    """The JSON bodies of this worker's ``POST /responses`` requests."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/responses"):
            self.bodies.append(json.loads(request.content))


def test_a_worker_killed_mid_dispatch_is_reattached_not_run_again(
    mm_sandbox: Sandbox, tmp_path: Path
) -> None:
    path = str(tmp_path / "state.db")
    routes = SQLiteRouteStore(path, lease=LEASE)
    checkpoints, pending = SQLiteCheckpointStore(path), SQLitePendingStore(path)
    requests = Requests()
    http = httpx.Client(event_hooks={"request": [requests]})
    client = openai.OpenAI(
        api_key="sk-sandbox", base_url=mm_sandbox.openai_url, max_retries=0, http_client=http
    )
    multimail = MultiMailClient(
        api_key=mm_sandbox.keys["send"], base_url=mm_sandbox.multimail_url,
        retry=RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05, jitter=0),
    )  # fmt: skip
    dispatcher = Dispatcher(
        multimail, mailbox_id=mm_sandbox.mailbox_id, audit=None, approval_store=pending
    )
    driver = ResponsesDriver(
        client, dispatcher, approvals=PARKING, checkpoints=checkpoints,
        checkpoint_lease=LEASE / 2,
    )  # fmt: skip
    router = InboundRouter(client, dispatcher, model=MODEL, driver=driver, store=routes)
    work = FleetWork(
        router, pending=pending, checkpoints=checkpoints, decisions=MemoryDecisionStore()
    )
    try:
        assert work.admit(email(1, thread="thr_k")).mm_thread == "thr_k"
        dying = subprocess.run(
            [sys.executable, "-m", "tests.inbound.dying_worker", path, "thr_k"],
            cwd=ROOT, env={**os.environ, **mm_sandbox.environment()}, capture_output=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert dying.returncode == -9, dying.stderr.decode()[-2000:]
        assert len(mm_sandbox.multimail.pending()) == 1  # its send went out, held
        time.sleep(LEASE + 0.3)  # both its claims lapse
        assert work.sweep().threads == ["thr_k"]

        taken_over = work.route_inbound("thr_k")
        assert len(mm_sandbox.multimail.pending()) == 1  # no second send
        assert sum(mentions(b["input"], 1) for b in requests.bodies) == 0  # nor posted again
        assert taken_over.action == "started"
        assert taken_over.reason == "resume: parked"  # re-attached: its send waits, held
        assert checkpoints.lapsed() == []
    finally:
        for closing in (client, multimail, http, routes, checkpoints, pending):
            closing.close()
