"""A receiver with a fleet hub records an oversight decision before it answers: a 2xx means
every process can read it; a decision the store could not keep is answered 503 and its
retry is taken (the delivery is forgotten), so a database blip never loses a decision."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mm_assistants.approvals import ApprovalHub, MemoryDecisionStore
from mm_assistants.approvals.watch import RANK_FINAL, decisive
from mm_assistants.state import MemorySeenStore
from mm_assistants.webhooks import (
    AsyncWebhookReceiver,
    DecisionNotKept,
    DuplicateDelivery,
    WebhookReceiver,
)
from mm_assistants.webhooks import receiver as receiver_module
from mm_assistants.webhooks.starlette import webhook_route
from mm_assistants.webhooks.verify import verify_signature
from tests.webhooks.test_adapters import PATH, SECRET, signed

APPROVED = {"id": "evt_9", "event": "oversight.approved", "data": {"email_id": "em_9"}}


class FlakyStore(MemoryDecisionStore):
    """A decision store whose database is down until ``up`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False
        self.writes = 0

    def record(self, email_id: str, data: Mapping[str, Any], *, rank: int = 0) -> bool:
        self.writes += 1
        if not self.up:
            raise ConnectionError("database down")
        return super().record(email_id, data, rank=rank)


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


# --- review 1 of issue 15: a decision is never answered 2xx without being kept ------------

SEND_FAILED = {"id": "em_9", "status": "send_failed", "error": "mailbox full"}
NO_ID = {"event": "oversight.approved", "data": {"email_id": "em_8"}}


class LoopSpyStore(FlakyStore):
    """A store that is up and notes whether it was written from a running event loop."""

    def __init__(self) -> None:
        super().__init__()
        self.up = True
        self.on_loop: list[bool] = []

    def record(self, email_id: str, data: Mapping[str, Any], *, rank: int = 0) -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.on_loop.append(False)
        else:
            self.on_loop.append(True)
        return super().record(email_id, data, rank=rank)


class BrokenHub(ApprovalHub):
    """A fleet hub whose publishing fails with something else than a connection error."""

    def publish(self, email_id: str, data: Mapping[str, Any]) -> int:
        raise RuntimeError("a bug while publishing")


def test_a_local_wait_that_cannot_be_woken_never_costs_the_fleet_the_decision() -> None:
    store = MemoryDecisionStore()
    hub = ApprovalHub(store)

    async def subscribe_and_leave() -> None:
        hub.subscribe_async("em_9")  # its task dies with the loop, never unsubscribing

    loop = asyncio.new_event_loop()
    loop.run_until_complete(subscribe_and_leave())
    loop.close()
    hooks = WebhookReceiver(SECRET, hub=hub, replay_guard=MemorySeenStore())
    with hub.subscribe("em_9") as alive:
        hooks.handle(hooks.accept(*signed(APPROVED)))  # answered 2xx
        assert alive.decision is not None  # the wait that can be woken still is
    assert decisive(store.get_many(["em_9"])["em_9"])
    hub.close()


def test_any_failure_while_feeding_a_fleet_hub_is_a_503_and_the_retry_is_taken() -> None:
    store = MemoryDecisionStore()
    guard = MemorySeenStore()
    body, headers = signed(APPROVED)
    broken = WebhookReceiver(SECRET, hub=BrokenHub(store), replay_guard=guard)
    with pytest.raises(DecisionNotKept):
        broken.accept(body, headers)
    fixed = WebhookReceiver(SECRET, hub=ApprovalHub(store), replay_guard=guard)
    fixed.accept(body, headers)  # not a duplicate: the failed delivery was forgotten
    assert "em_9" in store.get_many(["em_9"])


def test_a_duplicate_of_a_decision_never_recorded_is_recorded_before_its_200() -> None:
    store = MemoryDecisionStore()
    guard = MemorySeenStore()
    body, headers = signed(APPROVED)
    # a process remembered the delivery, then was killed before recording the decision
    verify_signature(body, headers, SECRET, replay_guard=guard)
    app = Starlette(
        routes=[
            webhook_route(
                WebhookReceiver(SECRET, hub=ApprovalHub(store), replay_guard=guard), path=PATH
            )
        ]
    )
    with TestClient(app) as client:
        retry = client.post(PATH, content=body, headers=headers)
    assert (retry.status_code, retry.json()) == (200, {"status": "duplicate"})
    assert decisive(store.get_many(["em_9"])["em_9"])


def test_a_duplicate_leaves_a_decision_already_stored_alone() -> None:
    store = FlakyStore()
    store.up = True
    store.record("em_9", SEND_FAILED, rank=RANK_FINAL)  # e.g. a fleet watcher read it
    hooks = receiver(store)
    body, headers = signed(APPROVED)
    hooks.accept(body, headers)
    store.record("em_9", SEND_FAILED, rank=RANK_FINAL)
    writes = store.writes
    with pytest.raises(DuplicateDelivery):
        hooks.accept(body, headers)
    assert store.writes == writes
    assert store.get_many(["em_9"])["em_9"] == SEND_FAILED


def test_a_duplicate_whose_decision_cannot_be_confirmed_is_a_503() -> None:
    store = FlakyStore()
    guard = MemorySeenStore()
    body, headers = signed(APPROVED)
    verify_signature(body, headers, SECRET, replay_guard=guard)  # remembered, not recorded
    hooks = WebhookReceiver(SECRET, hub=ApprovalHub(store), replay_guard=guard)
    with pytest.raises(DecisionNotKept):
        hooks.accept(body, headers)  # the database is down: MultiMail must try again
    store.up = True
    with pytest.raises(DuplicateDelivery):
        hooks.accept(body, headers)
    assert "em_9" in store.get_many(["em_9"])


def test_a_replayed_message_event_writes_nothing_to_the_decision_store() -> None:
    store = FlakyStore()
    store.up = True
    hooks = receiver(store)
    received = {"id": "evt_m", "event": "message.received", "data": {"email_id": "em_1"}}
    body, headers = signed(received)
    hooks.accept(body, headers)
    with pytest.raises(DuplicateDelivery):
        hooks.accept(body, headers)
    assert store.writes == 0


def test_handle_never_raises_for_a_decision_accepted_by_another_process() -> None:
    web = receiver(MemoryDecisionStore())
    event = web.accept(*signed(APPROVED))
    worker = receiver(FlakyStore())  # its database is down
    handled = worker.handle(event)
    assert handled.errors
    assert handled.errors[0].startswith("hub: DecisionNotShared")


def test_handle_never_raises_for_a_decision_without_an_event_id() -> None:
    store = FlakyStore()
    store.up = True
    hooks = receiver(store)
    event = hooks.accept(*signed(NO_ID))
    store.up = False
    assert hooks.handle(event).errors[0].startswith("hub: DecisionNotShared")


def test_async_handle_never_raises_and_keeps_the_database_off_the_loop() -> None:
    store = LoopSpyStore()
    web = receiver(MemoryDecisionStore())
    event = web.accept(*signed(NO_ID))
    worker = AsyncWebhookReceiver(SECRET, hub=ApprovalHub(store), replay_guard=MemorySeenStore())
    assert asyncio.run(worker.handle(event)).woke
    assert store.on_loop == [False]
    store.up = False
    assert asyncio.run(worker.handle(event)).errors[0].startswith("hub: DecisionNotShared")


def test_the_async_endpoint_records_a_fleet_decision_off_the_event_loop() -> None:
    store = LoopSpyStore()
    hooks = AsyncWebhookReceiver(SECRET, hub=ApprovalHub(store), replay_guard=MemorySeenStore())
    app = Starlette(routes=[webhook_route(hooks, path=PATH)])
    body, headers = signed(APPROVED)
    with TestClient(app) as client:
        answer = client.post(PATH, content=body, headers=headers)
    assert answer.json()["status"] == "accepted"
    assert store.on_loop == [False]  # a slow database cannot stall other requests


def test_concurrent_accepts_and_handles_never_fail_a_recorded_decision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(receiver_module, "_EARLY_LIMIT", 1)  # evict on every accept
    store = MemoryDecisionStore()
    hooks = receiver(store)
    failures: list[BaseException] = []

    def deliver(worker: int) -> None:
        for n in range(150):
            event = {"id": f"evt_{worker}_{n}", "event": "oversight.approved",
                     "data": {"email_id": f"em_{worker}_{n}"}}  # fmt: skip
            try:
                handled = hooks.handle(hooks.accept(*signed(event)))
                assert handled.errors == ()
            except BaseException as error:  # noqa: BLE001 -- reported by the test below
                failures.append(error)

    threads = [threading.Thread(target=deliver, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert len(store.get_many([f"em_{w}_{n}" for w in range(6) for n in range(150)])) == 900
