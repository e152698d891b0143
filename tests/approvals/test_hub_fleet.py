"""`ApprovalHub` with a `DecisionStore`: decisions published by one hub wake waits on another
(two hubs on one store stand for two processes), a wait finds a decision stored before it
subscribed, a reconnect re-reads every waited email, and a failing store never costs the
local wake-up."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Collection, Iterator, Mapping
from typing import Any

import pytest

from mm_assistants.approvals import (
    HUB_CHECK_INTERVAL,
    ApprovalHub,
    DecisionNotShared,
    MemoryDecisionStore,
)
from mm_assistants.approvals.fleet_hub import READ_BATCH, REREAD_EVERY
from mm_assistants.state.decisions import Listening, Reconnected, Ring

BOUND = 10.0  # seconds a wake-up may take on a loaded test machine; a failure waits this long
BRIEF = 0.3  # seconds to wait for something that must NOT happen

REJECTED = {"id": "em_1", "status": "rejected", "reason": "wrong recipient"}
APPROVED = {"id": "em_2", "status": "approved_and_sent", "approved_at": "2026-01-02T03:04:05Z"}
HELD = {"id": "em_1", "status": "pending_send_approval"}


class SpyStore:
    """A memory store that counts reads, can keep its bell silent, fail, and hands its
    listeners' callbacks to the test."""

    def __init__(self) -> None:
        self.inner = MemoryDecisionStore()
        self.silent = False
        self.fail_record: Exception | None = None
        self.fail_reads = 0
        self.reads: list[list[str]] = []
        self.listeners: list[tuple[Ring, Reconnected]] = []
        self.rung: list[str] = []

    def record(self, email_id: str, data: Mapping[str, Any], *, rank: int = 0) -> bool:
        if self.fail_record is not None:
            raise self.fail_record
        if self.silent:
            # kept, but the bell does not ring: a notification lost on the way
            listeners, self.inner._listeners = self.inner._listeners, []
            try:
                return self.inner.record(email_id, data, rank=rank)
            finally:
                self.inner._listeners = listeners
        self.rung.append(email_id)
        return self.inner.record(email_id, data, rank=rank)

    def get_many(self, email_ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        self.reads.append(sorted(email_ids))
        if self.fail_reads:
            self.fail_reads -= 1
            raise ConnectionError("database unavailable")
        return self.inner.get_many(email_ids)

    def listen(self, ring: Ring, reconnected: Reconnected) -> Listening:
        self.listeners.append((ring, reconnected))
        return self.inner.listen(ring, reconnected)


@pytest.fixture
def store() -> SpyStore:
    return SpyStore()


@pytest.fixture
def hubs(store: SpyStore) -> Iterator[tuple[ApprovalHub, ApprovalHub]]:
    web, worker = ApprovalHub(store), ApprovalHub(store)
    yield web, worker
    web.close()
    worker.close()


def test_a_decision_published_by_one_hub_wakes_a_wait_on_another(
    hubs: tuple[ApprovalHub, ApprovalHub], store: SpyStore
) -> None:
    web, worker = hubs
    with worker.subscribe("em_1") as wait:
        assert web.publish("em_1", REJECTED) == 0  # nobody waits in the web process
        assert wait.wait(BOUND) == REJECTED
    assert store.inner.get_many(["em_1"]) == {"em_1": REJECTED}


def test_a_wait_finds_a_decision_stored_before_it_subscribed(
    hubs: tuple[ApprovalHub, ApprovalHub], store: SpyStore
) -> None:
    web, worker = hubs
    worker.start()  # listening, but no wait yet: the bell for em_1 finds nobody to wake
    web.publish("em_1", REJECTED)
    with worker.subscribe("em_1") as wait:
        assert wait.wait(BOUND) == REJECTED
    assert ["em_1"] in store.reads


def test_a_reconnect_re_reads_every_waited_email(
    hubs: tuple[ApprovalHub, ApprovalHub], store: SpyStore
) -> None:
    web, worker = hubs
    waits = [worker.subscribe(email_id) for email_id in ("em_1", "em_2", "em_3")]
    for wait in waits:
        assert wait.wait(BRIEF) is None  # nothing decided yet
    store.silent = True  # the bells below are lost, as while a listener is disconnected
    web.publish("em_1", REJECTED)
    web.publish("em_2", APPROVED)
    assert waits[0].wait(BRIEF) is None
    _, reconnected = store.listeners[-1]
    reconnected()  # what the listener calls once it is back
    assert waits[0].wait(BOUND) == REJECTED
    assert waits[1].wait(BOUND) == APPROVED
    assert waits[2].wait(BRIEF) is None
    assert ["em_1", "em_2", "em_3"] in store.reads


def test_a_record_that_decides_nothing_is_neither_stored_nor_rung(
    hubs: tuple[ApprovalHub, ApprovalHub], store: SpyStore
) -> None:
    web, worker = hubs
    with worker.subscribe("em_1") as wait:
        assert web.publish("em_1", HELD) == 0
        assert web.publish("em_1", {"id": "em_1", "status": "approved"}) == 0  # no evidence
        assert web.publish_event("oversight.approved", HELD) == 0
        assert wait.wait(BRIEF) is None
    assert store.rung == []
    assert store.inner.get_many(["em_1"]) == {}


def test_an_event_published_in_one_hub_wakes_an_async_wait_in_another(
    hubs: tuple[ApprovalHub, ApprovalHub],
) -> None:
    web, worker = hubs

    async def wait_for_decision() -> Mapping[str, Any] | None:
        with worker.subscribe_async("em_2") as wait:
            threading.Timer(0.05, web.publish_event, ("oversight.approved", APPROVED)).start()
            return await wait.wait_async(BOUND)

    decision = asyncio.run(wait_for_decision())
    assert decision is not None
    assert decision["status"] == "approved_and_sent"


def test_a_bell_for_an_email_nobody_waits_on_reads_nothing(
    hubs: tuple[ApprovalHub, ApprovalHub], store: SpyStore
) -> None:
    web, worker = hubs
    with worker.subscribe("em_2") as wait:
        wait.wait(BRIEF)
        before = list(store.reads)
        web.publish("em_1", REJECTED)  # rings worker's listener; worker waits on em_2 only
        assert wait.wait(BRIEF) is None
    assert store.reads == before


def test_a_failing_store_still_wakes_local_waits_and_says_so(store: SpyStore) -> None:
    hub = ApprovalHub(store)
    try:
        with hub.subscribe("em_1") as wait:
            store.fail_record = ConnectionError("database unavailable")
            with pytest.raises(DecisionNotShared) as raised:
                hub.publish("em_1", REJECTED)
            assert wait.decision == REJECTED  # woken although the store failed
        assert raised.value.woken == 1
        assert raised.value.email_id == "em_1"
        assert isinstance(raised.value.__cause__, ConnectionError)
    finally:
        hub.close()


def test_a_failed_read_is_tried_again(store: SpyStore) -> None:
    hub = ApprovalHub(store)
    try:
        store.inner.record("em_1", REJECTED)
        store.fail_reads = 2
        with hub.subscribe("em_1") as wait:
            assert wait.wait(BOUND) == REJECTED
        assert len([read for read in store.reads if read == ["em_1"]]) >= 3
    finally:
        hub.close()


def test_current_reads_the_remembered_or_stored_decision(
    store: SpyStore, caplog: pytest.LogCaptureFixture
) -> None:
    hub = ApprovalHub(store)
    assert hub.current("em_1") is None
    store.inner.record("em_1", REJECTED)
    store.inner.record("em_3", HELD)  # a store written by anyone: undecided is no decision
    assert hub.current("em_1") == REJECTED
    assert hub.current("em_3") is None
    hub.publish("em_2", APPROVED)
    store.fail_reads = 5
    assert hub.current("em_2") == APPROVED  # remembered: no read needed
    with caplog.at_level(logging.WARNING):
        assert hub.current("em_4") is None
    assert "could not read a stored decision" in caplog.text
    assert ApprovalHub().current("em_1") is None


def test_a_closed_hub_stops_listening_and_a_new_wait_starts_it_again(store: SpyStore) -> None:
    hub = ApprovalHub(store)
    hub.start()
    assert len(store.inner._listeners) == 1
    hub.close()
    assert store.inner._listeners == []
    with hub.subscribe("em_1") as wait:
        ApprovalHub(store).publish("em_1", REJECTED)
        assert wait.wait(BOUND) == REJECTED
    hub.close()


def test_check_interval_defaults_to_the_hub_interval_and_none_means_never() -> None:
    assert ApprovalHub().check_interval == HUB_CHECK_INTERVAL == 300.0
    assert ApprovalHub(check_interval=None).check_interval is None
    assert ApprovalHub(check_interval=30).check_interval == 30
    for bad in (0, -1, float("nan"), True):
        with pytest.raises(ValueError, match="check_interval"):
            ApprovalHub(check_interval=bad)


def test_the_repr_names_the_store_and_the_waits(store: SpyStore) -> None:
    hub = ApprovalHub(MemoryDecisionStore())
    with hub.subscribe("em_1"):
        assert repr(hub) == "ApprovalHub(waiting=1, decisions=MemoryDecisionStore(decisions=0))"
    hub.close()
    assert repr(ApprovalHub()) == "ApprovalHub(waiting=0)"


# --- review 1 of issue 15 ----------------------------------------------------------------


def test_the_fleet_record_is_kept_before_any_local_wait_wakes(
    store: SpyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = ApprovalHub(store)
    stored_when_woken: list[bool] = []
    try:
        with hub.subscribe("em_1") as wait:
            deliver = wait.deliver

            def spy(data: Mapping[str, Any]) -> None:
                stored_when_woken.append("em_1" in store.inner.get_many(["em_1"]))
                deliver(data)

            monkeypatch.setattr(wait, "deliver", spy)
            assert hub.publish("em_1", REJECTED) == 1
        assert stored_when_woken == [True]  # a woken wait can rely on the fleet knowing
    finally:
        hub.close()


def test_a_wait_that_cannot_be_woken_neither_stops_the_record_nor_the_other_waits(
    store: SpyStore, caplog: pytest.LogCaptureFixture
) -> None:
    hub = ApprovalHub(store)

    async def subscribe_and_leave() -> None:
        hub.subscribe_async("em_1")  # its task dies with the loop, never unsubscribing

    loop = asyncio.new_event_loop()
    loop.run_until_complete(subscribe_and_leave())
    loop.close()
    try:
        with hub.subscribe("em_1") as alive, caplog.at_level(logging.WARNING):
            assert hub.publish("em_1", REJECTED) == 2
            assert alive.decision == REJECTED
        assert store.inner.get_many(["em_1"]) == {"em_1": REJECTED}
        assert "could not wake a wait on email 'em_1'" in caplog.text
    finally:
        hub.close()


def test_a_silent_listener_costs_a_wait_at_most_reread_every(store: SpyStore) -> None:
    assert REREAD_EVERY == 60.0
    web, worker = ApprovalHub(store), ApprovalHub(store, reread_every=0.2)
    try:
        with worker.subscribe("em_1") as wait:
            assert wait.wait(BRIEF) is None
            store.silent = True  # a half-open connection: no bell, no reconnect either
            web.publish("em_1", REJECTED)
            assert wait.wait(BOUND) == REJECTED
    finally:
        web.close()
        worker.close()


def test_the_safety_net_reads_every_waited_email_in_bounded_batches(store: SpyStore) -> None:
    hub = ApprovalHub(store, reread_every=0.2)
    ids = [f"em_{n}" for n in range(READ_BATCH * 2 + 1)]
    waits = [hub.subscribe(email_id) for email_id in ids]
    try:
        store.silent = True
        ApprovalHub(store).publish(ids[-1], {**REJECTED, "id": ids[-1]})
        assert waits[-1].wait(BOUND) is not None
        assert max(map(len, store.reads)) <= READ_BATCH
    finally:
        for wait in waits:
            wait.close()
        hub.close()


def test_reread_every_must_be_a_positive_number() -> None:
    assert ApprovalHub(reread_every=5).decisions is None
    for bad in (0, -1, float("nan"), True, None):
        with pytest.raises(ValueError, match="reread_every"):
            ApprovalHub(MemoryDecisionStore(), reread_every=bad)  # type: ignore[arg-type]


SEND_FAILED = {"id": "em_1", "status": "send_failed", "approved_at": "2026-01-02T03:04:05Z"}
LATE_APPROVAL = {"id": "em_1", "status": "approved_and_sent", "approved_at": "2026-01-02T03:04:05Z"}


def test_a_late_approval_never_replaces_the_send_failed_another_process_recorded(
    hubs: tuple[ApprovalHub, ApprovalHub], store: SpyStore
) -> None:
    web, worker = hubs
    with web.subscribe("em_1") as early:
        assert worker.publish("em_1", SEND_FAILED) == 0  # e.g. the worker's fleet watcher
        assert early.wait(BOUND) == SEND_FAILED
    with web.subscribe("em_1") as wait:
        # a retried oversight.approved webhook reaches the web process afterwards
        assert web.publish("em_1", LATE_APPROVAL) == 0
        assert wait.wait(BOUND) == SEND_FAILED
    assert store.inner.get_many(["em_1"]) == {"em_1": SEND_FAILED}
    assert web.current("em_1") == SEND_FAILED
    fresh = ApprovalHub(store)  # a process that starts (or reconnects) later reads the same
    try:
        assert fresh.current("em_1") == SEND_FAILED
    finally:
        fresh.close()


def test_a_late_approval_is_refused_when_the_store_only_has_the_send_failed(
    hubs: tuple[ApprovalHub, ApprovalHub], store: SpyStore
) -> None:
    web, _ = hubs
    store.inner.record("em_1", SEND_FAILED, rank=4)  # recorded elsewhere, unseen by web
    with web.subscribe("em_1") as wait:
        web.publish("em_1", LATE_APPROVAL)
        assert wait.wait(BOUND) == SEND_FAILED  # the kept decision, read from the store


def test_a_hub_without_a_store_keeps_the_more_final_decision_too() -> None:
    hub = ApprovalHub()
    hub.publish("em_1", SEND_FAILED)
    with hub.subscribe("em_1") as wait:
        assert hub.publish("em_1", LATE_APPROVAL) == 1
        assert wait.wait(BOUND) == SEND_FAILED
    assert hub.current("em_1") == SEND_FAILED


def test_a_scheduled_decision_is_upgraded_by_the_approval_across_hubs(
    hubs: tuple[ApprovalHub, ApprovalHub], store: SpyStore
) -> None:
    web, worker = hubs
    scheduled = {"id": "em_1", "status": "scheduled", "send_at": "2026-01-03T09:00:00Z"}
    approved = {**scheduled, "approved_at": "2026-01-02T03:04:05Z"}
    web.publish("em_1", scheduled)
    web.publish("em_1", approved)
    assert store.inner.get_many(["em_1"]) == {"em_1": approved}
    with worker.subscribe("em_1") as wait:
        assert wait.wait(BOUND) == approved
    assert web.current("em_1") == approved


def test_an_equal_rank_replaces_the_latest_evidence_wins(
    hubs: tuple[ApprovalHub, ApprovalHub], store: SpyStore
) -> None:
    web, worker = hubs
    web.publish("em_1", REJECTED)
    web.publish("em_1", SEND_FAILED)
    assert store.inner.get_many(["em_1"]) == {"em_1": SEND_FAILED}
    with worker.subscribe("em_1") as wait:
        assert wait.wait(BOUND) == SEND_FAILED
