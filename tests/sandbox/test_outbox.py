"""The webhook outbox: signed deliveries to a loopback receiver, retries, restarts, history."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mm_assistants.sandbox.multimail_api.outbox import WebhookOutbox
from mm_assistants.sandbox.multimail_api.signing import sign, verify
from tests.sandbox.openai_api.support import FakeClock, Server

SECRET = "whsec_" + "5e" * 24
FAST = (0.01, 0.01, 0.01)

Make = Callable[..., WebhookOutbox]


def subscription(url: str = "http://hooks.invalid/h", **extra: Any) -> dict[str, Any]:
    sub = {
        "id": "wh_1",
        "url": url,
        "events": ["message.sent"],
        "signing_secret": SECRET,
        "mailbox_id": None,
    }
    return {**sub, **extra}


def answering(*statuses: int) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport answering ``statuses`` in turn (the last one forever), and its requests."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(statuses[min(len(seen), len(statuses)) - 1])

    return httpx.MockTransport(handler), seen


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "sandbox.db")


@pytest.fixture
def make(db_path: str) -> Iterator[Make]:
    """Outboxes on the test's file, all closed when the test ends."""
    made: list[WebhookOutbox] = []

    def make(**options: Any) -> WebhookOutbox:
        options.setdefault("clock", FakeClock())
        options.setdefault("retry_delays", FAST)
        outbox = WebhookOutbox(db_path, **options)
        made.append(outbox)
        return outbox

    yield make
    for outbox in made:
        outbox.close()
    assert not [t for t in threading.enumerate() if t.name == "mm-webhook-out"]


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[bytes, dict[str, str]]]]]:
    """A loopback Starlette receiver: its hook URL and what it received."""
    received: list[tuple[bytes, dict[str, str]]] = []

    async def hook(request: Request) -> Response:
        received.append((await request.body(), dict(request.headers)))
        return JSONResponse({"ok": True})

    server = Server(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    port = server.start()
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        server.stop()


def test_delivery_is_signed_and_shaped(
    make: Make, receiver: tuple[str, list[tuple[bytes, dict[str, str]]]]
) -> None:
    url, received = receiver
    clock = FakeClock(1_800_000_000.25)
    outbox = make(clock=clock)
    outbox.start()
    outbox.emit(
        tenant_id="t_1",
        event="message.sent",
        data={"email_id": "em_1", "subject": "Héllo"},
        subscriptions=[subscription(url)],
    )
    assert outbox.flush()

    [(body, headers)] = received
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-multimail-signature"] == f"sha256={expected}"
    assert headers["content-type"] == "application/json"
    assert headers["x-multimail-event"] == "message.sent"
    assert headers["x-multimail-timestamp"] == "1800000000"
    document = json.loads(body)
    assert document == {
        "id": headers["x-multimail-delivery"],
        "event": "message.sent",
        "timestamp": "2027-01-15T08:00:00.250Z",
        "data": {"email_id": "em_1", "subject": "Héllo"},
    }
    assert document["id"].startswith("evt_")
    [delivery] = outbox.deliveries("t_1")
    assert delivery["id"] == document["id"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "delivered",
        1,
        200,
    )


def test_sign_and_verify_agree_with_hmac() -> None:
    body = b'{"event":"message.sent"}'
    signature = sign(body, "whsec_x")
    assert signature == "sha256=" + hmac.new(b"whsec_x", body, hashlib.sha256).hexdigest()
    assert verify(body, "whsec_x", signature)
    assert not verify(body + b" ", "whsec_x", signature)
    assert not verify(body, "whsec_y", signature)


def test_each_subscription_gets_its_own_delivery(make: Make) -> None:
    transport, seen = answering(204)
    outbox = make(transport=transport)
    outbox.start()
    subs = [subscription("http://a.invalid/1"), subscription("http://b.invalid/2", id="wh_2")]
    outbox.emit(tenant_id="t_1", event="message.sent", data={}, subscriptions=subs)
    assert outbox.flush()
    assert sorted(str(request.url) for request in seen) == [
        "http://a.invalid/1",
        "http://b.invalid/2",
    ]
    ids = {request.headers["x-multimail-delivery"] for request in seen}
    assert len(ids) == 2
    assert {d["webhook_id"] for d in outbox.deliveries("t_1", status="delivered")} == {
        "wh_1",
        "wh_2",
    }


def test_retries_a_500_then_delivers(make: Make) -> None:
    transport, seen = answering(500, 503, 200)
    outbox = make(transport=transport)
    outbox.start()
    outbox.emit(tenant_id="t_1", event="message.sent", data={}, subscriptions=[subscription()])
    assert outbox.flush()
    [delivery] = outbox.deliveries("t_1")
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 3
    assert delivery["last_status_code"] == 200
    assert delivery["last_error"] is None
    # every attempt sends the same bytes and signature, under the same delivery id
    assert len({(r.content, r.headers["x-multimail-signature"]) for r in seen}) == 1
    assert len({r.headers["x-multimail-delivery"] for r in seen}) == 1


def test_fails_after_the_last_retry(make: Make) -> None:
    transport, seen = answering(500)
    outbox = make(transport=transport, retry_delays=(0.01, 0.01))
    outbox.start()
    outbox.emit(tenant_id="t_1", event="message.sent", data={}, subscriptions=[subscription()])
    assert outbox.flush()
    [delivery] = outbox.deliveries("t_1", status="failed")
    assert (delivery["attempts"], delivery["last_status_code"]) == (3, 500)
    assert delivery["last_error"] == "HTTP 500"
    assert delivery["delivered_at"] is None
    assert len(seen) == 3


def test_a_transport_error_is_retried_and_recorded(make: Make) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    outbox = make(transport=httpx.MockTransport(handler), retry_delays=(0.01,))
    outbox.start()
    outbox.emit(tenant_id="t_1", event="message.sent", data={}, subscriptions=[subscription()])
    assert outbox.flush()
    [delivery] = outbox.deliveries("t_1")
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 2
    assert delivery["last_status_code"] is None
    assert delivery["last_error"] == "ConnectError: connection refused"


def test_a_restarted_outbox_sends_what_is_pending(make: Make) -> None:
    first = make()
    first.emit(tenant_id="t_1", event="message.sent", data={}, subscriptions=[subscription()])
    first.close()  # never started: the delivery waits in the file

    transport, seen = answering(200)
    second = make(transport=transport)
    assert [d["status"] for d in second.deliveries("t_1")] == ["pending"]
    second.start()
    assert second.flush()
    assert len(seen) == 1
    assert [d["status"] for d in second.deliveries("t_1")] == ["delivered"]


def test_a_restarted_outbox_keeps_the_retry_count(make: Make, db_path: str) -> None:
    failing, _ = answering(500)
    first = make(transport=failing, retry_delays=(60.0,))
    first.start()
    first.emit(tenant_id="t_1", event="message.sent", data={}, subscriptions=[subscription()])
    assert first.flush()  # the first attempt; its retry is due long after the deadline
    assert first.deliveries("t_1")[0]["attempts"] == 1
    first.close()
    with closing(sqlite3.connect(db_path)) as db, db:  # the minute passes while nothing runs
        db.execute("UPDATE mm_webhook_deliveries SET due_at = 0")

    working, seen = answering(200)
    second = make(transport=working)
    second.start()
    assert second.flush()
    [delivery] = second.deliveries("t_1")
    assert (delivery["status"], delivery["attempts"], len(seen)) == ("delivered", 2, 1)


def test_moving_the_sandbox_clock_does_not_hurry_a_retry(make: Make) -> None:
    clock = FakeClock()
    transport, seen = answering(500)
    outbox = make(clock=clock, transport=transport, retry_delays=(30.0,))
    outbox.start()
    outbox.emit(tenant_id="t_1", event="message.sent", data={}, subscriptions=[subscription()])
    assert outbox.flush(timeout=1.0)
    clock.shift(3600)
    assert outbox.flush(timeout=0.1)
    [delivery] = outbox.deliveries("t_1")
    assert (delivery["status"], delivery["attempts"], len(seen)) == ("pending", 1, 1)


def test_history_shape_filters_and_order(make: Make) -> None:
    clock = FakeClock(1_800_000_000.0)
    transport, _ = answering(200)
    outbox = make(clock=clock, transport=transport)
    for n in range(3):
        outbox.emit(tenant_id="t_1", event=f"e.{n}", data={}, subscriptions=[subscription()])
    outbox.emit(tenant_id="t_2", event="other", data={}, subscriptions=[subscription()])

    pending = outbox.deliveries("t_1")
    assert [d["event"] for d in pending] == ["e.2", "e.1", "e.0"]  # newest first
    assert [d["event"] for d in outbox.deliveries("t_1", limit=1)] == ["e.2"]
    assert outbox.deliveries("t_1", status="delivered") == []
    assert set(pending[0]) == {
        "id",
        "webhook_id",
        "mailbox_id",
        "event",
        "event_type",
        "url",
        "status",
        "attempts",
        "last_status_code",
        "response_status",
        "last_error",
        "created_at",
        "last_attempt_at",
        "delivered_at",
    }
    assert pending[0]["created_at"] == "2027-01-15T08:00:00.000Z"
    assert (pending[0]["status"], pending[0]["attempts"], pending[0]["delivered_at"]) == (
        "pending",
        0,
        None,
    )

    outbox.start()
    assert outbox.flush()
    [done] = outbox.deliveries("t_2")
    assert done["status"] == "delivered"
    assert done["delivered_at"] == "2027-01-15T08:00:00.000Z"
    assert done["event_type"] == "other"
    assert done["response_status"] == 200


@pytest.mark.parametrize(
    ("options", "error"),
    [
        pytest.param({"status": "sent"}, "status must be one of", id="unknown-status"),
        pytest.param({"limit": 0}, "limit must be at least 1", id="zero-limit"),
    ],
)
def test_deliveries_refuses_bad_arguments(make: Make, options: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make().deliveries("t_1", **options)


def test_the_secret_never_shows(make: Make, db_path: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    transport, _ = answering(500)
    outbox = make(transport=transport, retry_delays=(0.01,))
    outbox.start()
    outbox.emit(tenant_id="t_1", event="message.sent", data={}, subscriptions=[subscription()])
    assert outbox.flush()
    assert SECRET not in json.dumps(outbox.deliveries("t_1"))
    assert SECRET not in repr(outbox)
    assert caplog.records  # the failed attempts were logged...
    assert SECRET not in caplog.text  # ...without the secret
    with closing(sqlite3.connect(db_path)) as db:  # not stored: only the body's signature is
        dump = "\n".join(db.iterdump())
    assert "mm_webhook_deliveries" in dump
    assert SECRET not in dump


def test_a_bad_subscription_names_the_key_not_the_secret(make: Make) -> None:
    outbox = make()
    broken = subscription(url="")
    with pytest.raises(ValueError, match="'url'") as caught:
        outbox.emit(
            tenant_id="t_1", event="message.sent", data={}, subscriptions=[subscription(), broken]
        )
    assert SECRET not in str(caught.value)
    assert outbox.deliveries("t_1") == []  # all or nothing


def test_flush_reports_what_it_could_not_drain(make: Make) -> None:
    outbox = make()
    outbox.emit(tenant_id="t_1", event="message.sent", data={}, subscriptions=[])
    assert outbox.flush(timeout=0.0)  # nothing to do
    outbox.emit(tenant_id="t_1", event="message.sent", data={}, subscriptions=[subscription()])
    assert outbox.flush(timeout=0.05) is False  # not started: the delivery is still due


def test_start_is_idempotent_and_close_stops_the_worker(make: Make) -> None:
    outbox = make()
    outbox.start()
    outbox.start()
    workers = [t for t in threading.enumerate() if t.name == "mm-webhook-out"]
    assert len(workers) == 1
    assert "running" in repr(outbox)
    outbox.close()
    outbox.close()
    assert not workers[0].is_alive()
    assert "closed" in repr(outbox)
    with pytest.raises(RuntimeError, match="closed"):
        outbox.start()
    # the sink must not fail a request that emits during shutdown
    outbox.emit(tenant_id="t_1", event="message.sent", data={}, subscriptions=[subscription()])


def test_refuses_nonsense_settings(db_path: str) -> None:
    with pytest.raises(ValueError, match="timeout"):
        WebhookOutbox(db_path, clock=FakeClock(), timeout=0)
    with pytest.raises(ValueError, match="retry_delays"):
        WebhookOutbox(db_path, clock=FakeClock(), retry_delays=(-1.0,))
