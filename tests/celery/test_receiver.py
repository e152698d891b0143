"""The web side: an inbound message is admitted before the answer and rung after it; an
admission that fails is answered 503 and its retry is taken (not dropped as a replay)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from mm_assistants.celery import RingingWebhookReceiver, ring
from mm_assistants.celery.receiver import AdmitAndRing
from mm_assistants.inbound import RouteResult
from mm_assistants.state import MemorySeenStore
from mm_assistants.webhooks import WebhookEvent, WebhookReceiver
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
    result: RouteResult = field(default_factory=lambda: RouteResult("queued", "em_1", "thr_1"))
    pending: Any = None

    def admit(self, event: WebhookEvent) -> RouteResult:
        if self.down:
            raise ConnectionError("database unavailable")
        self.admitted.append(str(event.id))
        return self.result


@dataclass
class Bell:
    """Stands in for `Tasks`: records what was enqueued."""

    queue: str = "mm-assistants"
    route_inbound: str = "route_inbound"
    resume_run: str = "resume_run"
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


def message_event() -> WebhookEvent:
    from mm_assistants.webhooks.events import parse_event

    return parse_event(MESSAGE)


def test_a_web_process_killed_after_the_replay_memory_write_loses_no_mail() -> None:
    """Review 16 H4: the replay memory and the admission are two transactions. A process
    that died between them never answered; MultiMail's retry is a replay, and it must
    still be admitted (and rung), not just answered "duplicate"."""
    work, bell, seen = Work(), Bell(), MemorySeenStore()  # seen: shared by web processes
    body, headers = signed(MESSAGE)
    dying = RingingWebhookReceiver(SECRET, work=work, tasks=bell, replay_guard=seen)  # type: ignore[arg-type]
    WebhookReceiver.accept(dying, body, headers)  # the replay memory's write, then SIGKILL
    assert work.admitted == []
    fresh = RingingWebhookReceiver(SECRET, work=work, tasks=bell, replay_guard=seen)  # type: ignore[arg-type]
    retry = accept_answer(fresh, body, headers)
    assert (retry.status, retry.body) == (200, {"status": "duplicate"})
    assert work.admitted == ["evt_1"]
    assert bell.rung == [("route_inbound", "thr_1")]  # no handle follows a duplicate


def test_a_replay_whose_admission_fails_is_answered_503_and_one_already_admitted_rings() -> None:
    work, bell = Work(), Bell()
    web = receiver(work, bell)
    body, headers = signed(MESSAGE)
    assert accept_answer(web, body, headers).status == 200
    work.down = True
    assert accept_answer(web, body, headers).status == 503  # the mail may not be stored
    work.down, work.result = False, RouteResult("duplicate", email_id="em_1", mm_thread_id="thr_1")
    bell.rung.clear()
    again = accept_answer(web, body, headers)
    assert again.body == {"status": "duplicate"}
    assert bell.rung == [("route_inbound", "thr_1")]  # its first bell may have died too


@dataclass
class Pending:
    checkpoint_id: str | None = "ck_1"

    def get(self, email_id: str) -> Any:
        return SimpleNamespace(email_id=email_id, checkpoint_id=self.checkpoint_id)


def test_a_replayed_decision_rings_its_parked_run() -> None:
    work, bell = Work(), Bell()
    work.pending = Pending()
    web = receiver(work, bell)
    decision = {
        "id": "evt_d",
        "event": "oversight.approved",
        "data": {"email_id": "em_out", "decision": "approved"},
    }
    body, headers = signed(decision)
    first = accept_answer(web, body, headers)
    assert first.status == 200
    bell.rung.clear()  # its process died before `handle` rang
    again = accept_answer(web, body, headers)
    assert again.body == {"status": "duplicate"}
    assert bell.rung == [("resume_run", "ck_1")]


def test_the_admission_runs_off_the_event_loop_even_without_a_fleet_hub() -> None:
    """Review 16 M4: the admission does database and MultiMail I/O; on the event loop it
    would stall every other request of the web process."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from mm_assistants.webhooks.starlette import webhook_route

    work, bell = LoopProbe(), Bell()
    app = Starlette(routes=[webhook_route(receiver(work, bell))])
    body, headers = signed(MESSAGE)
    with TestClient(app) as client:
        answer = client.post("/multimail/webhooks", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert work.on_loop == [False]


def test_admit_and_ring_refuses_to_be_a_receivers_router() -> None:
    bell = Bell()
    with pytest.raises(TypeError, match="not a receiver's router"):
        WebhookReceiver(SECRET, router=AdmitAndRing(Work(), bell), replay_guard=MemorySeenStore())  # type: ignore[arg-type]
    admit_and_ring = AdmitAndRing(Work(), bell)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="before answering"):
        admit_and_ring.route(message_event())
    assert admit_and_ring.admit(message_event()).action == "queued"
    assert bell.rung == [("route_inbound", "thr_1")]


@dataclass
class LoopProbe(Work):
    on_loop: list[bool] = field(default_factory=list)

    def admit(self, event: WebhookEvent) -> RouteResult:
        try:
            asyncio.get_running_loop()
            self.on_loop.append(True)
        except RuntimeError:
            self.on_loop.append(False)
        return super().admit(event)
