"""Waiting for a decision: polling with backoff, hub wake-ups, deadlines (fake clock)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from mm_assistants.approvals import ApprovalHub, ApprovalPolicy, wait_async, wait_sync
from mm_assistants.approvals.waiter import CANCEL_CHECK_INTERVAL

POLICY = ApprovalPolicy(first_delay=1.0, multiplier=2.0, max_interval=4.0)


class FakeTime:
    """A clock that moves only when the wait sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def scripted(statuses: list[dict[str, Any] | None]) -> Any:
    looks: list[str] = []

    def fetch(email_id: str, mailbox_id: str) -> Mapping[str, Any] | None:
        looks.append(email_id)
        return statuses.pop(0) if statuses else {"status": "pending_send_approval"}

    fetch.looks = looks  # type: ignore[attr-defined]
    return fetch


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_polls_with_backoff_until_decided(mode: str) -> None:
    fake = FakeTime()
    fetch = scripted(
        [
            {"status": "pending_send_approval"},
            None,
            {"status": "rejected", "rejection_reason": "no"},
        ]
    )
    kwargs = {"policy": POLICY, "deadline": fake.now + 60, "clock": fake.clock}
    if mode == "sync":
        outcome = wait_sync(fetch, "em_1", "mbx_1", sleep=fake.sleep, **kwargs)
    else:

        async def afetch(email_id: str, mailbox_id: str) -> Any:
            return fetch(email_id, mailbox_id)

        outcome = asyncio.run(wait_async(afetch, "em_1", "mbx_1", sleep=fake.asleep, **kwargs))
    assert outcome.decision == "rejected"
    assert outcome.reason == "no"
    assert fake.sleeps == [1.0, 2.0, 4.0]
    assert outcome.status_checks == 3
    assert outcome.woken_by == "poll"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_deadline_ends_the_wait_as_pending_after_a_last_look(mode: str) -> None:
    fake = FakeTime()
    fetch = scripted([])
    kwargs = {"policy": POLICY, "deadline": fake.now + 10, "clock": fake.clock}
    if mode == "sync":
        outcome = wait_sync(fetch, "em_1", "mbx_1", sleep=fake.sleep, **kwargs)
    else:

        async def afetch(email_id: str, mailbox_id: str) -> Any:
            return fetch(email_id, mailbox_id)

        outcome = asyncio.run(wait_async(afetch, "em_1", "mbx_1", sleep=fake.asleep, **kwargs))
    assert outcome.decision == "pending"
    assert outcome.woken_by == "deadline"
    assert sum(fake.sleeps) == pytest.approx(10.0)
    assert fake.now <= 1010.0


def test_a_hub_wakes_a_sync_wait_at_once_without_polling() -> None:
    hub = ApprovalHub()
    fetch = scripted([])
    threading.Timer(0.05, hub.publish_event, ("oversight.approved", {"email_id": "em_1"})).start()
    started = time.monotonic()
    outcome = wait_sync(fetch, "em_1", "mbx_1", policy=POLICY, deadline=time.time() + 30, hub=hub)
    assert outcome.decision == "approved"
    assert outcome.woken_by == "hub"
    assert fetch.looks == []
    assert time.monotonic() - started < POLICY.first_delay  # woke before the first poll was due


def test_a_hub_wakes_an_async_wait_from_another_thread() -> None:
    hub = ApprovalHub()

    async def never(email_id: str, mailbox_id: str) -> Any:
        raise AssertionError("no status check expected")

    async def scenario() -> Any:
        threading.Timer(
            0.05, hub.publish_event, ("oversight.rejected", {"id": "em_2", "reason": "tone"})
        ).start()
        return await wait_async(
            never, "em_2", "m", policy=POLICY, deadline=time.time() + 30, hub=hub
        )

    outcome = asyncio.run(scenario())
    assert (outcome.decision, outcome.reason, outcome.woken_by) == ("rejected", "tone", "hub")


def test_a_decision_heard_before_the_wait_starts_is_not_lost() -> None:
    hub = ApprovalHub()
    assert hub.publish("em_3", {"status": "rejected"}) == 0
    outcome = wait_sync(scripted([]), "em_3", "m", policy=POLICY, deadline=time.time() + 5, hub=hub)
    assert outcome.decision == "rejected"
    assert "waiting=0" in repr(hub)


def test_the_hub_ignores_other_events_and_forgets_old_decisions() -> None:
    hub = ApprovalHub(remember=2)
    assert hub.publish_event("message.received", {"id": "x"}) == 0
    assert hub.publish_event("oversight.approved", {"nothing": 1}) == 0
    for name in ("a", "b", "c"):
        hub.publish(name, {"status": "rejected"})
    with hub.subscribe("a") as subscription:
        assert subscription.decision is None
    with hub.subscribe("c") as subscription:
        assert subscription.wait(0) == {"status": "rejected"}


def test_async_waits_need_an_async_subscription() -> None:
    hub = ApprovalHub()
    subscription = hub.subscribe("x")
    with pytest.raises(RuntimeError, match="subscribe_async"):
        asyncio.run(subscription.wait_async(0.01))
    subscription.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_cancel_set_before_the_wait_ends_it_at_once_as_pending(mode: str) -> None:
    cancel = threading.Event()
    cancel.set()
    fetch = scripted([])
    kwargs: dict[str, Any] = {"policy": POLICY, "deadline": time.time() + 60, "cancel": cancel}
    if mode == "sync":
        outcome = wait_sync(fetch, "em_1", "mbx_1", **kwargs)
    else:

        async def fetch_async(email_id: str, mailbox_id: str) -> Mapping[str, Any] | None:
            return fetch(email_id, mailbox_id)  # type: ignore[no-any-return]

        outcome = asyncio.run(wait_async(fetch_async, "em_1", "mbx_1", **kwargs))
    assert outcome.decision == "pending"
    assert outcome.woken_by == "cancel"
    assert fetch.looks == []  # nothing more to learn: the run is going away


@pytest.mark.parametrize("with_hub", [False, True], ids=["polling", "hub"])
def test_a_cancel_from_another_thread_cuts_a_long_wait_short(with_hub: bool) -> None:
    cancel = threading.Event()
    timer = threading.Timer(0.1, cancel.set)
    timer.start()
    outcome = wait_sync(
        scripted([]),
        "em_1",
        "mbx_1",
        policy=ApprovalPolicy(first_delay=30.0, max_interval=30.0),
        deadline=time.time() + 60,
        hub=ApprovalHub() if with_hub else None,
        cancel=cancel,
    )
    timer.join()
    assert outcome.woken_by == "cancel"
    assert outcome.decision == "pending"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_injected_sleep_and_clock_govern_a_wait_that_may_be_cancelled(mode: str) -> None:
    # A cancel event used to switch the wait to real time (event.wait / time.monotonic):
    # with a fake sleep, a wait must take no real time at all.
    fake, cancel = FakeTime(), threading.Event()
    fetch = scripted([])
    kwargs: dict[str, Any] = {
        "policy": POLICY,
        "deadline": fake.now + 4,
        "clock": fake.clock,
        "cancel": cancel,
    }
    started = time.monotonic()
    if mode == "sync":
        outcome = wait_sync(fetch, "em_1", "mbx_1", sleep=fake.sleep, **kwargs)
    else:

        async def fetch_async(email_id: str, mailbox_id: str) -> Mapping[str, Any] | None:
            return fetch(email_id, mailbox_id)  # type: ignore[no-any-return]

        outcome = asyncio.run(wait_async(fetch_async, "em_1", "mbx_1", sleep=fake.asleep, **kwargs))
    assert time.monotonic() - started < 1.0
    assert (outcome.decision, outcome.woken_by) == ("pending", "deadline")
    assert outcome.waited == pytest.approx(4.0)
    assert sum(fake.sleeps) == pytest.approx(4.0)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_cancel_during_a_faked_pause_ends_the_wait_within_one_slice(mode: str) -> None:
    fake, cancel = FakeTime(), threading.Event()

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if fake.now >= 1002.0:  # the run is cancelled two (fake) seconds in
            cancel.set()

    async def asleep(seconds: float) -> None:
        sleep(seconds)

    fetch = scripted([])
    kwargs: dict[str, Any] = {
        "policy": ApprovalPolicy(first_delay=30.0, max_interval=30.0),
        "deadline": fake.now + 3,
        "clock": fake.clock,
        "cancel": cancel,
    }
    if mode == "sync":
        outcome = wait_sync(fetch, "em_1", "mbx_1", sleep=sleep, **kwargs)
    else:

        async def fetch_async(email_id: str, mailbox_id: str) -> Mapping[str, Any] | None:
            return fetch(email_id, mailbox_id)  # type: ignore[no-any-return]

        outcome = asyncio.run(wait_async(fetch_async, "em_1", "mbx_1", sleep=asleep, **kwargs))
    assert outcome.woken_by == "cancel"
    # prompt: at most one slice of the pause passed after the cancel
    assert 2.0 <= outcome.waited <= 2.0 + CANCEL_CHECK_INTERVAL + 1e-9
    assert fetch.looks == []
