"""A receiver with a fleet hub records an oversight decision before it answers: a 2xx means
every process can read it; a decision the store could not keep is answered 503 and its
retry is taken (the delivery is forgotten), so a database blip never loses a decision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mm_assistants.approvals import ApprovalHub, MemoryDecisionStore
from mm_assistants.approvals.watch import decisive
from mm_assistants.state import MemorySeenStore
from mm_assistants.webhooks import DecisionNotKept, WebhookReceiver
from mm_assistants.webhooks.starlette import webhook_route
from tests.webhooks.test_adapters import PATH, SECRET, signed

APPROVED = {"id": "evt_9", "event": "oversight.approved", "data": {"email_id": "em_9"}}


class FlakyStore(MemoryDecisionStore):
    """A decision store whose database is down until ``up`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.writes = 0

    def record(self, email_id: str, data: Mapping[str, Any]) -> None:
        self.writes += 1
        if not self.up:
            raise ConnectionError("database down")
        super().record(email_id, data)


def receiver(store: MemoryDecisionStore) -> WebhookReceiver:
    return WebhookReceiver(SECRET, hub=ApprovalHub(store), replay_guard=MemorySeenStore())


def test_a_fleet_decision_is_recorded_before_accept_returns() -> None:
    store = MemoryDecisionStore()
    hooks = receiver(store)
    event = hooks.accept(*signed(APPROVED))
    assert "em_9" in store.get_many(["em_9"])  # durable before the sender hears 2xx
    handled = hooks.handle(event)
    assert handled.errors == ()


def test_handle_does_not_record_an_accepted_decision_twice() -> None:
    store = FlakyStore()
    store.up = True
    hooks = receiver(store)
    hooks.handle(hooks.accept(*signed(APPROVED)))
    assert store.writes == 1


def test_a_decision_the_store_cannot_keep_is_refused_and_its_retry_taken() -> None:
    store = FlakyStore()
    hooks = receiver(store)
    body, headers = signed(APPROVED)
    with pytest.raises(DecisionNotKept) as refused:
        hooks.accept(body, headers)
    assert "503" in str(refused.value)
    store.up = True  # the database is back: MultiMail's retry of the same delivery
    hooks.handle(hooks.accept(body, headers))
    assert decisive(store.get_many(["em_9"])["em_9"])


def test_the_http_answer_to_an_unkept_decision_is_503_then_200() -> None:
    store = FlakyStore()
    app = Starlette(routes=[webhook_route(receiver(store), path=PATH)])
    body, headers = signed(APPROVED)
    with TestClient(app) as client:
        first = client.post(PATH, content=body, headers=headers)
        store.up = True
        second = client.post(PATH, content=body, headers=headers)
    assert (first.status_code, first.json()["error"]) == (503, "not_kept")
    assert second.status_code == 200
    assert second.json()["status"] == "accepted"
    assert "em_9" in store.get_many(["em_9"])


def test_an_in_process_hub_is_fed_after_the_answer_as_before() -> None:
    hub = ApprovalHub()
    hooks = WebhookReceiver(SECRET, hub=hub, replay_guard=MemorySeenStore())
    with hub.subscribe("em_9") as wait:
        event = hooks.accept(*signed(APPROVED))
        assert wait.decision is None  # nothing happens before handle in one process
        assert hooks.handle(event).woke
        assert wait.decision is not None
