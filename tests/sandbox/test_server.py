"""The whole sandbox on loopback: both halves on one port, controls, restart, the fixture."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox, SandboxClock


def client(sb: Sandbox, scope: str) -> httpx.Client:
    return httpx.Client(
        base_url=sb.multimail_url, headers={"Authorization": f"Bearer {sb.keys[scope]}"}
    )


def send_body(**extra: Any) -> dict[str, Any]:
    return {"to": ["ana@example.com"], "subject": "Hi", "markdown": "Hello", **extra}


def test_the_fixture_serves_both_apis_and_health(mm_sandbox: Sandbox) -> None:
    assert httpx.get(f"{mm_sandbox.base_url}/health").json() == {"status": "ok"}
    with client(mm_sandbox, "read") as mm:
        boxes = mm.get("/v1/mailboxes").json()["mailboxes"]
    assert [box["oversight_mode"] for box in boxes if box["id"] == mm_sandbox.mailbox_id] == [
        "gated_send"
    ]
    mm_sandbox.openai.register_script("hello", [{"say": "Hello from the emulator"}])
    sdk = openai.OpenAI(api_key="sk-sandbox", base_url=mm_sandbox.openai_url, max_retries=0)
    answer = sdk.responses.create(model="hello", input="hi", metadata={"script": "hello"})
    sdk.close()
    assert answer.output_text == "Hello from the emulator"


def test_keys_cover_each_scope_and_none_both_sends_and_approves(mm_sandbox: Sandbox) -> None:
    assert set(mm_sandbox.keys) == {"read", "send", "oversight", "admin"}
    with client(mm_sandbox, "oversight") as reviewer:
        refused = reviewer.post(f"/v1/mailboxes/{mm_sandbox.mailbox_id}/send", json=send_body())
    assert refused.status_code == 403


def test_a_held_send_is_settled_and_announced_without_anyone_asking(tmp_path: Path) -> None:
    # the MultiMail half's settler runs inside the combined app's lifespan
    received: list[dict[str, Any]] = []
    with (
        Receiver(received) as url,
        Sandbox(
            multimail_settings=MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05),
            webhook_retry_delays=(0.05,),
        ) as sb,
    ):
        with client(sb, "admin") as admin:
            body: dict[str, object] = {"url": url, "events": ["oversight.pending"]}
            admin.post("/v1/webhooks", json=body)  # 202: MultiMail mails the operator a code
            body["approval_code"] = sb.multimail.approval_code("create_webhook")
            hook = admin.post("/v1/webhooks", json=body).json()
        with client(sb, "send") as agent:
            sent = agent.post(f"/v1/mailboxes/{sb.mailbox_id}/send", json=send_body()).json()
        assert Receiver.wait_for(received, 1)
    delivery = received[0]
    expected = hmac.new(
        hook["signing_secret"].encode(), delivery["body"], hashlib.sha256
    ).hexdigest()
    assert delivery["headers"]["x-multimail-signature"] == f"sha256={expected}"
    payload = json.loads(delivery["body"])
    assert payload["event"] == "oversight.pending"
    assert payload["data"]["email_id"] == sent["id"]


def test_data_outlives_the_sandbox_with_a_db_path(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.db"
    with Sandbox(db_path=db) as first:
        keys = dict(first.keys)
        inbound = first.multimail.inject_inbound(sender="a@example.com", subject="S", markdown="M")
    with Sandbox(db_path=db) as second, client(second, "read") as mm:
        assert dict(second.keys) == keys
        found = mm.get(f"/v1/mailboxes/{second.mailbox_id}/emails/{inbound['id']}")
    assert found.status_code == 200


def test_one_clock_ages_runs_and_mail_alike() -> None:
    clock = SandboxClock()
    with Sandbox(clock=clock) as sb:
        sdk = openai.OpenAI(api_key="sk", base_url=sb.openai_url, max_retries=0)
        sb.openai.update(model_latency=1000.0)  # still thinking when its 600 s are up
        assistant = sdk.beta.assistants.create(model="m")
        run = sdk.beta.threads.create_and_run(assistant_id=assistant.id)
        clock.advance(3600)
        later = sdk.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
        sdk.close()
    assert later.status == "expired"


def test_faults_apply_to_the_multimail_routes_only(mm_sandbox: Sandbox) -> None:
    mm_sandbox.faults.add("*", status=503, next_n=1)
    with client(mm_sandbox, "read") as mm:
        assert mm.get("/v1/mailboxes").status_code == 503
        assert mm.get("/v1/mailboxes").status_code == 200
    counted = mm_sandbox.counters.snapshot()["routes"]
    assert counted["GET /v1/mailboxes"] == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"host": "0.0.0.0"}, "not a loopback address", id="non-loopback"),
        pytest.param({"port": 70000}, "port must be", id="port-range"),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Sandbox(**kwargs)


def test_a_stopped_sandbox_says_so() -> None:
    sb = Sandbox()
    assert repr(sb) == "Sandbox(stopped)"
    with pytest.raises(RuntimeError, match="not running"):
        _ = sb.multimail_url
    with sb:
        assert repr(sb) == f"Sandbox({sb.base_url})"
        assert sb.environment()["MULTIMAIL_MAILBOX_ID"] == sb.mailbox_id
    sb.stop()  # twice is harmless


class Receiver:
    """A webhook endpoint on loopback that keeps what it is sent."""

    def __init__(self, received: list[dict[str, Any]]) -> None:
        store = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                store.append(
                    {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def wait_for(received: list[dict[str, Any]], count: int, timeout: float = 5.0) -> bool:
        event = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if len(received) >= count:
                return True
            event.wait(0.02)
        return False
