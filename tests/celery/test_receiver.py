"""The web side: an inbound message is admitted before the answer and rung after it; an
admission that fails is answered 503 and its retry is taken (not dropped as a replay)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from mm_assistants.celery import RingingWebhookReceiver, ring
from mm_assistants.celery.receiver import AdmitAndRing
from mm_assistants.inbound import RouteResult
from mm_assistants.state import MemorySeenStore
from mm_assistants.webhooks import WebhookEvent
from mm_assistants.webhooks.http import accept_answer

SECRET = "whsec_celery_secret_1"
MESSAGE = {
    "id": "evt_1",
    "event": "message.received",
    "data": {"email_id": "em_1", "thread_id": "thr_1", "direction": "inbound"},
}


def signed(document: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({**document, "timestamp": time.time()}).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-MultiMail-Signature": f"sha256={digest}"}


@dataclass
class Work:
    down: bool = False
    admitted: list[str] = field(default_factory=list)

    def admit(self, event: WebhookEvent) -> RouteResult:
        if self.down:
            raise ConnectionError("database unavailable")
        self.admitted.append(str(event.id))
        return RouteResult("queued", email_id="em_1", mm_thread_id="thr_1")


@dataclass
class Bell:
    """Stands in for `Tasks`: records what was enqueued."""

    queue: str = "mm-assistants"
    route_inbound: str = "route_inbound"
    rung: list[tuple[Any, ...]] = field(default_factory=list)

    def enqueue(self, task: Any, *keys: str) -> bool:
        self.rung.append((task, *keys))
        return True


def receiver(work: Work, bell: Bell) -> RingingWebhookReceiver:
    return RingingWebhookReceiver(
        SECRET,
        work=work,
        tasks=bell,  # type: ignore[arg-type]
        replay_guard=MemorySeenStore(),
    )


def test_the_answer_comes_after_the_admission_and_the_bell_after_the_answer() -> None:
    work, bell = Work(), Bell()
    web = receiver(work, bell)
    answer = accept_answer(web, *signed(MESSAGE))
    assert answer.status == 200
    assert work.admitted == ["evt_1"]  # committed before the answer
    assert bell.rung == []  # nothing rung before the answer
    assert answer.event is not None
    handled = web.handle(answer.event)
    assert bell.rung == [("route_inbound", "thr_1")]
    assert handled.route is not None
    assert handled.route.action == "queued"


def test_a_failed_admission_is_answered_503_and_its_retry_is_taken() -> None:
    work, bell = Work(down=True), Bell()
    web = receiver(work, bell)
    body, headers = signed(MESSAGE)
    answer = accept_answer(web, body, headers)
    assert answer.status == 503
    assert "database" not in json.dumps(answer.body)
    work.down = False
    again = accept_answer(web, body, headers)  # MultiMail's retry, same delivery
    assert again.status == 200
    assert again.body["status"] == "accepted"
    assert work.admitted == ["evt_1"]


def test_a_router_is_refused_and_a_duplicate_rings_nothing() -> None:
    bell = Bell()
    with pytest.raises(TypeError, match="no router"):
        RingingWebhookReceiver(SECRET, work=Work(), tasks=bell, router=object())  # type: ignore[arg-type]
    assert ring(bell, RouteResult("duplicate", email_id="em_1")) is False  # type: ignore[arg-type]
    assert bell.rung == []
    router = AdmitAndRing(Work(), bell)  # type: ignore[arg-type]
    assert router.route(message_event()).action == "queued"
    assert bell.rung == [("route_inbound", "thr_1")]


def message_event() -> WebhookEvent:
    from mm_assistants.webhooks.events import parse_event

    return parse_event(MESSAGE)
