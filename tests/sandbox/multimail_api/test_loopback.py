"""The sandbox served by uvicorn on 127.0.0.1, as the demo and the benchmarks use it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from mm_assistants.sandbox.multimail_api import MultiMailSandboxSettings
from tests.sandbox.multimail_api.conftest import Sandbox, Start, send_body

START_TIMEOUT = 5.0


class Served:
    """uvicorn in a thread, with the app's lifespan (so its settler task runs)."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.stop()
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(START_TIMEOUT)


@pytest.fixture
def served(start_sandbox: Start) -> Iterator[tuple[Sandbox, str]]:
    settings = MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.02)
    sandbox = start_sandbox(settings)
    server = Served(sandbox.app)
    url = server.start()
    yield sandbox, url
    server.stop()


def client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=5)


def test_a_gated_send_over_loopback(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    with client(url, sandbox.seed.keys["send"]) as sender:
        sent = sender.post(f"{sandbox.mb}/send", json=send_body(idempotency_key="c1"))
        assert sent.status_code == 202
        repeat = sender.post(f"{sandbox.mb}/send", json=send_body(idempotency_key="c1"))
        assert repeat.json()["status"] == "already_sent"
    email_id = sent.json()["id"]
    # nobody asks: the app's own settler notices the scan ended and emits the event
    deadline = time.monotonic() + START_TIMEOUT
    while not sandbox.sink.events_for(email_id) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e.event for e in sandbox.sink.events_for(email_id)] == ["oversight.pending"]
    with client(url, sandbox.seed.keys["oversight"]) as overseer:
        decide = {"email_id": email_id, "action": "approve"}
        answer = overseer.post("/v1/oversight/decide", json=decide)
        assert answer.json()["status"] == "approved_and_sent"


def test_errors_and_headers_over_loopback(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    with httpx.Client(base_url=url, timeout=5) as anonymous:
        assert anonymous.get("/health").json() == {"status": "ok"}
        answer = anonymous.get("/v1/mailboxes")
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/json"
    with client(url, sandbox.seed.keys["read"]) as reader:
        limited = reader.get(f"{sandbox.mb}/emails", params={"limit": 500})
        assert limited.status_code == 400
        assert limited.json() == {"error": "limit must be an integer from 1 to 100"}
