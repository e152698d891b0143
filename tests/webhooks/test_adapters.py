"""The FastAPI router and the Flask blueprint, through their test clients: the statuses a
sender sees, and that the work happens after the answer."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from flask import Flask
from starlette.applications import Starlette

from mm_assistants.approvals import ApprovalHub
from mm_assistants.webhooks import AsyncWebhookReceiver, WebhookEvent, WebhookReceiver
from mm_assistants.webhooks.fastapi import webhook_router
from mm_assistants.webhooks.flask import webhook_blueprint
from mm_assistants.webhooks.starlette import webhook_route

SECRET = "whsec_adapter_secret_1"
OLD_SECRET = "whsec_adapter_secret_0"
PATH = "/multimail/webhooks"
APPROVED = {"id": "evt_1", "event": "oversight.approved", "data": {"email_id": "em_1"}}


def signed(document: Any, secret: str = SECRET, **headers: str) -> tuple[bytes, dict[str, str]]:
    if isinstance(document, dict) and "timestamp" not in document:
        document = {**document, "timestamp": time.time()}  # signed: it proves freshness
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-MultiMail-Signature": f"sha256={digest}",
        "X-MultiMail-Timestamp": str(int(time.time())),
        **headers,
    }


class Seen:
    """An ``on_event`` callback that records events, in the order handled."""

    def __init__(self) -> None:
        self.events: list[WebhookEvent] = []
        self.done = threading.Event()

    def __call__(self, event: WebhookEvent) -> None:
        self.events.append(event)
        self.done.set()


Post = Callable[..., Any]


@pytest.fixture(params=["fastapi-async", "fastapi-sync", "starlette", "flask"])
def adapter(request: pytest.FixtureRequest) -> Iterator[tuple[Post, Seen, ApprovalHub]]:
    seen, hub = Seen(), ApprovalHub()
    options: dict[str, Any] = {"hub": hub, "on_event": seen, "max_body": 4096}
    secrets = [SECRET, OLD_SECRET]
    if request.param == "flask":
        app = Flask(__name__)
        pool = ThreadPoolExecutor(1)
        app.register_blueprint(
            webhook_blueprint(WebhookReceiver(secrets, **options), executor=pool)
        )
        client = app.test_client()

        def post(body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
            answer = client.post(PATH, data=body, headers=headers)
            pool.submit(lambda: None).result()  # the handling submitted before it is done
            return answer.status_code, answer.get_json()

        yield post, seen, hub
        pool.shutdown()
        return
    kind = AsyncWebhookReceiver if request.param == "fastapi-async" else WebhookReceiver
    api: Any
    if request.param == "starlette":
        api = Starlette(routes=[webhook_route(AsyncWebhookReceiver(secrets, **options))])
    else:
        api = FastAPI()
        api.include_router(webhook_router(kind(secrets, **options)))
    with TestClient(api) as test_client:

        def post_fastapi(body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
            answer = test_client.post(PATH, content=body, headers=headers)
            return answer.status_code, answer.json()

        yield post_fastapi, seen, hub


def test_a_signed_delivery_is_accepted_then_handled(
    adapter: tuple[Post, Seen, ApprovalHub],
) -> None:
    post, seen, hub = adapter
    with hub.subscribe("em_1") as subscription:
        status, body = post(*signed(APPROVED))
        assert (status, body) == (
            200,
            {"status": "accepted", "event": "oversight.approved", "id": "evt_1"},
        )
        assert seen.done.wait(5)
        assert subscription.decision is not None  # the hub woke the wait on em_1
    assert [event.type for event in seen.events] == ["oversight.approved"]


def test_the_old_secret_still_works_during_a_rotation(
    adapter: tuple[Post, Seen, ApprovalHub],
) -> None:
    post, _seen, _ = adapter
    assert post(*signed(APPROVED, OLD_SECRET))[0] == 200


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        pytest.param(lambda b, h: (b + b" ", h), "bad_signature", id="tampered-body"),
        pytest.param(
            lambda b, h: signed(APPROVED, "whsec_wrong"), "bad_signature", id="wrong-secret"
        ),
        pytest.param(
            lambda b, h: (b, {k: v for k, v in h.items() if "Signature" not in k}),
            "missing_signature",
            id="no-signature",
        ),
        pytest.param(
            lambda b, h: (b, {**h, "X-MultiMail-Signature": "md5=abc"}),
            "malformed_signature",
            id="malformed",
        ),
        pytest.param(
            lambda b, h: signed({**APPROVED, "timestamp": time.time() - 7200}),
            "stale_timestamp",
            id="stale",
        ),
        pytest.param(
            lambda b, h: signed(
                APPROVED, **{"X-MultiMail-Timestamp": str(int(time.time()) - 7200)}
            ),
            "mismatched_timestamp",
            id="header-contradicts-body",
        ),
        pytest.param(
            lambda b, h: signed({**APPROVED, "timestamp": None}),
            "missing_timestamp",
            id="no-timestamp",
        ),
    ],
)
def test_a_bad_signature_is_401_and_nothing_is_handled(
    adapter: tuple[Post, Seen, ApprovalHub], tamper: Any, reason: str
) -> None:
    post, seen, _ = adapter
    status, body = post(*tamper(*signed(APPROVED)))
    assert status == 401
    assert body["error"] == reason
    assert SECRET not in json.dumps(body)
    assert seen.events == []


def test_a_replayed_delivery_is_answered_200_and_handled_once(
    adapter: tuple[Post, Seen, ApprovalHub],
) -> None:
    post, seen, _ = adapter
    body, headers = signed(APPROVED, **{"X-MultiMail-Delivery": "dlv_1"})
    assert post(body, headers)[0] == 200
    assert post(body, headers) == (200, {"status": "duplicate"})
    assert seen.done.wait(5)
    assert len(seen.events) == 1


def test_a_body_over_the_cap_is_413(adapter: tuple[Post, Seen, ApprovalHub]) -> None:
    post, seen, _ = adapter
    big = {**APPROVED, "data": {"email_id": "em_1", "note": "x" * 5000}}
    status, body = post(*signed(big))
    assert status == 413
    assert body["error"] == "too_large"
    assert seen.events == []


def test_a_signed_body_that_is_not_a_json_object_is_400(
    adapter: tuple[Post, Seen, ApprovalHub],
) -> None:
    post, _seen, _ = adapter
    status, body = post(*signed(b"[1, 2, 3]"))
    assert status == 400
    assert body["error"] == "bad_payload"


def test_fastapi_refuses_a_large_chunked_body_without_reading_it_all() -> None:
    seen = Seen()
    api = FastAPI()
    api.include_router(webhook_router(WebhookReceiver(SECRET, on_event=seen, max_body=1024)))

    def chunks() -> Iterator[bytes]:
        for _ in range(64):  # 64 KiB with no Content-Length
            yield b"x" * 1024

    with TestClient(api) as client:
        answer = client.post(PATH, content=chunks(), headers={"X-MultiMail-Signature": "sha256=0"})
    assert answer.status_code == 413
    assert seen.events == []


def test_the_answer_does_not_wait_for_slow_handling() -> None:
    release = threading.Event()
    handled = threading.Event()

    def slow(event: WebhookEvent) -> None:
        release.wait(5)
        handled.set()

    app = Flask(__name__)
    pool = ThreadPoolExecutor(1)
    app.register_blueprint(webhook_blueprint(WebhookReceiver(SECRET, on_event=slow), executor=pool))
    body, headers = signed(APPROVED)
    answer = app.test_client().post(PATH, data=body, headers=headers)
    assert answer.status_code == 200
    assert not handled.is_set()  # answered while the handling still waits
    release.set()
    assert handled.wait(5)
    pool.shutdown()


def test_the_package_imports_without_the_frameworks() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "sys.modules['fastapi'] = None\n"
        "sys.modules['flask'] = None\n"
        "import mm_assistants, mm_assistants.webhooks\n"
        "try:\n"
        "    import mm_assistants.webhooks.flask\n"
        "except ImportError as error:\n"
        "    print('needs', error.name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "needs flask"


def test_the_secret_stays_out_of_reprs_and_refusals() -> None:
    receiver = WebhookReceiver([SECRET, OLD_SECRET], hub=ApprovalHub())
    assert SECRET not in repr(receiver)
    assert OLD_SECRET not in repr(vars(receiver))
    with pytest.raises(Exception) as refused:
        receiver.accept(*signed(APPROVED, "whsec_other"))
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize("secrets", ["", [], ["whsec_ok", ""]])
def test_an_unusable_secret_fails_at_construction(secrets: Any) -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookReceiver(secrets)
