"""Wake-ups that decide nothing: the hub never hands them on, and the wait never looks at
the email more often than its policy's schedule allows, however often it is woken."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import respx

from mm_assistants.approvals import ApprovalHub, ApprovalPolicy, wait_async, wait_sync
from mm_assistants.approvals.watch import outcome_from_email

BASE = "https://api.multimail.test"
EMAIL_URL = f"{BASE}/v1/mailboxes/mbx_1/emails/em_1"
POLICY = ApprovalPolicy(first_delay=0.2, multiplier=2.0, max_interval=0.4)
WAIT = 1.0
HELD = {"id": "em_1", "status": "pending_send_approval"}
NOT_DECIDING: list[tuple[str, Mapping[str, Any]]] = [
    ("oversight.pending", {"email_id": "em_1", "status": "pending_send_approval"}),
    ("message.sent", {"email_id": "em_1", "status": "approved"}),
]


def schedule_bound(policy: ApprovalPolicy, seconds: float) -> int:
    """How many looks the policy's own polling schedule makes in ``seconds`` (plus the
    last look at the deadline)."""
    looks, elapsed = 0, 0.0
    while True:
        step = policy.delay(looks, elapsed, seconds)
        if step is None:
            return looks + 1
        elapsed += step
        looks += 1


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def fetch_with(client: httpx.Client) -> Any:
    def fetch(email_id: str, mailbox_id: str) -> Mapping[str, Any] | None:
        return client.get(f"/v1/mailboxes/{mailbox_id}/emails/{email_id}").json()  # type: ignore[no-any-return]

    return fetch


class Storm:
    """Publishes non-deciding records about em_1 as fast as it can, from another thread."""

    def __init__(self, hub: ApprovalHub) -> None:
        self.hub = hub
        self.woken = 0
        self.published = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for event_type, data in NOT_DECIDING:
                self.woken += self.hub.publish_event(event_type, data)
                self.published += 1
            self.woken += self.hub.publish("em_1", {"status": "pending_send_approval"})
            self.woken += self.hub.publish("em_1", {"status": "bounced"})
            self.woken += self.hub.publish("em_1", {})
            time.sleep(0.0005)

    def __enter__(self) -> Storm:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_the_hub_never_hands_on_a_record_that_decides_nothing() -> None:
    hub = ApprovalHub()
    with hub.subscribe("em_1") as subscription:
        for event_type, data in NOT_DECIDING:
            assert hub.publish_event(event_type, data) == 0
        assert hub.publish("em_1", {"status": "pending_send_approval"}) == 0
        assert hub.publish("em_1", {"status": "bounced"}) == 0
        assert hub.publish("em_1", {}) == 0
        assert hub.publish("em_1", {"status": "approved"}) == 0  # no evidence of approval
        assert subscription.wait(0) is None
        # an event whose own data still shows the email held is no decision either
        stale = {"email_id": "em_1", "status": "pending_send_approval"}
        assert hub.publish_event("oversight.rejected", stale) == 0
        assert subscription.wait(0) is None
        # the event type decides when the data does not contradict it
        assert hub.publish_event("oversight.rejected", {"email_id": "em_1"}) == 1
        heard = subscription.wait(0)
        assert heard is not None
        assert heard["status"] == "rejected"
    with hub.subscribe("em_2") as later:
        hub.publish("em_2", {"status": "pending_send_approval"})
        assert later.wait(0) is None
    with hub.subscribe("em_2") as late:  # nothing non-deciding was remembered either
        assert late.decision is None


@pytest.mark.parametrize("stale", ["pending_send_approval", "pending_scan"])
@pytest.mark.parametrize("event", ["oversight.approved", "oversight.rejected"])
def test_an_event_its_own_data_contradicts_decides_nothing(event: str, stale: str) -> None:
    # the incident: one oversight.approved event whose data still said
    # pending_send_approval was handed on as "pending", and the wait spun on it. Such an
    # event is no evidence either way: the wait reads the record on its schedule.
    hub = ApprovalHub()
    with hub.subscribe("em_1") as subscription:
        woke = hub.publish_event(event, {"email_id": "em_1", "status": stale})
        assert woke == 0
        assert subscription.wait(0) is None


def test_a_bare_approval_event_is_the_decision_dated_by_the_event() -> None:
    hub = ApprovalHub()
    at = datetime(2026, 11, 28, 10, 0, tzinfo=timezone.utc)
    with hub.subscribe("em_1") as subscription:
        assert hub.publish_event("oversight.approved", {"email_id": "em_1"}, at=at) == 1
        heard = subscription.wait(0)
        assert heard is not None
        assert heard["status"] == "approved_and_sent"
        assert heard["approved_at"] == "2026-11-28T10:00:00Z"


def test_a_scheduled_email_an_event_approved_reads_as_approved() -> None:
    # the event is MultiMail's word that a human approved it; without the event's time
    # it is dated when heard, never reported as "not approved"
    hub = ApprovalHub()
    data = {"email_id": "em_1", "status": "scheduled", "send_at": "2026-12-01T09:00:00Z"}
    with hub.subscribe("em_1") as subscription:
        assert hub.publish_event("oversight.approved", data) == 1
        heard = subscription.wait(0)
    assert heard is not None
    outcome = outcome_from_email("em_1", heard, waited=0, status_checks=0, woken_by="hub")
    assert outcome.decision == "scheduled"
    assert outcome.settled
    assert "A human approved the message" in outcome.as_output()["note"]


def wait_in(mode: str, client: httpx.Client, hub: Any) -> Any:
    """One wait on em_1 for WAIT seconds, from a thread or a coroutine."""
    fetch = fetch_with(client)
    if mode == "sync":
        return wait_sync(
            fetch, "em_1", "mbx_1", policy=POLICY, deadline=time.time() + WAIT, hub=hub
        )

    async def afetch(email_id: str, mailbox_id: str) -> Mapping[str, Any] | None:
        return fetch(email_id, mailbox_id)  # type: ignore[no-any-return]

    return asyncio.run(
        wait_async(afetch, "em_1", "mbx_1", policy=POLICY, deadline=time.time() + WAIT, hub=hub)
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_storm_of_non_deciding_wakeups_costs_no_extra_looks(
    mode: str, api: respx.MockRouter
) -> None:
    looks = api.get(EMAIL_URL).respond(json=HELD)
    hub = ApprovalHub()
    with Storm(hub) as storm, httpx.Client(base_url=BASE) as client:
        outcome = wait_in(mode, client, hub)
    assert storm.published > 100
    assert outcome.decision == "pending"
    # with a hub the wait looks only at its (long) check interval and at the deadline
    assert looks.call_count <= 2
    assert looks.call_count <= schedule_bound(POLICY, WAIT)


class NoisySubscription:
    """A subscription (of a hub that misbehaves) that wakes its wait every millisecond
    with a record that decides nothing."""

    def __init__(self) -> None:
        self.wakes = 0

    def wait(self, timeout: float) -> Mapping[str, Any] | None:
        time.sleep(min(timeout, 0.001))
        self.wakes += 1
        return {"status": "pending_send_approval"}

    async def wait_async(self, timeout: float) -> Mapping[str, Any] | None:
        await asyncio.sleep(min(timeout, 0.001))
        self.wakes += 1
        return {"status": "pending_send_approval"}

    def close(self) -> None:
        pass


class NoisyHub:
    def __init__(self) -> None:
        self.subscription = NoisySubscription()

    def subscribe(self, email_id: str) -> NoisySubscription:
        return self.subscription

    def subscribe_async(self, email_id: str) -> NoisySubscription:
        return self.subscription


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_however_often_a_wait_is_woken_it_looks_only_on_its_schedule(
    mode: str, api: respx.MockRouter
) -> None:
    looks = api.get(EMAIL_URL).respond(json=HELD)
    hub: Any = NoisyHub()
    with httpx.Client(base_url=BASE) as client:
        outcome = wait_in(mode, client, hub)
    assert hub.subscription.wakes > 50
    assert outcome.decision == "pending"
    assert looks.call_count <= 2  # the hub's check interval: only the deadline's look


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_deciding_publish_during_a_storm_still_ends_the_wait_at_once(
    mode: str, api: respx.MockRouter
) -> None:
    looks = api.get(EMAIL_URL).respond(json=HELD)
    hub = ApprovalHub()
    timer = threading.Timer(
        0.2, hub.publish_event, ("oversight.rejected", {"email_id": "em_1", "reason": "no"})
    )
    with Storm(hub), httpx.Client(base_url=BASE) as client:
        fetch = fetch_with(client)
        timer.start()
        started = time.monotonic()
        if mode == "sync":
            outcome = wait_sync(
                fetch, "em_1", "mbx_1", policy=POLICY, deadline=time.time() + 30, hub=hub
            )
        else:

            async def afetch(email_id: str, mailbox_id: str) -> Mapping[str, Any] | None:
                return fetch(email_id, mailbox_id)  # type: ignore[no-any-return]

            outcome = asyncio.run(
                wait_async(
                    afetch, "em_1", "mbx_1", policy=POLICY, deadline=time.time() + 30, hub=hub
                )
            )
    timer.join()
    assert (outcome.decision, outcome.reason, outcome.woken_by) == ("rejected", "no", "hub")
    assert time.monotonic() - started < 5
    assert looks.call_count == 0
