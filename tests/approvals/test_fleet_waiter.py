"""The wait and the fleet watcher: a hub's ``check_interval`` sets how often a wait still
looks at MultiMail itself; ``None`` (a fleet watcher looks) means never, and the wait asks
the hub at its deadline instead."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest

from mm_assistants.approvals import ApprovalHub, ApprovalPolicy, wait_async, wait_sync

POLICY = ApprovalPolicy(first_delay=0.01, multiplier=1.0, max_interval=0.01)
HELD = {"status": "pending_send_approval"}
REJECTED = {"status": "rejected", "reason": "tone"}


class Looks:
    """A status fetch that counts its requests and always finds the email held."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, email_id: str, mailbox_id: str) -> Mapping[str, Any] | None:
        self.count += 1
        return HELD

    async def fetch_async(self, email_id: str, mailbox_id: str) -> Mapping[str, Any] | None:
        return self(email_id, mailbox_id)


class StoredDecisionHub(ApprovalHub):
    """A fleet hub whose bell for ``em_1`` was lost: only `current` knows the decision."""

    def __init__(self) -> None:
        super().__init__(check_interval=None)
        self.asked: list[str] = []

    def current(self, email_id: str) -> Mapping[str, Any] | None:
        self.asked.append(email_id)
        return REJECTED


def wait(mode: str, fetch: Looks, hub: ApprovalHub, seconds: float) -> Any:
    deadline = time.time() + seconds
    if mode == "sync":
        return wait_sync(fetch, "em_1", "mbx_1", policy=POLICY, deadline=deadline, hub=hub)
    return asyncio.run(
        wait_async(fetch.fetch_async, "em_1", "mbx_1", policy=POLICY, deadline=deadline, hub=hub)
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_wait_a_fleet_watcher_covers_makes_no_status_request(mode: str) -> None:
    fetch = Looks()
    outcome = wait(mode, fetch, ApprovalHub(check_interval=None), 0.3)
    assert fetch.count == 0
    assert (outcome.decision, outcome.status_checks) == ("pending", 0)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_at_its_deadline_a_watched_wait_asks_the_hub_not_multimail(mode: str) -> None:
    fetch, hub = Looks(), StoredDecisionHub()
    outcome = wait(mode, fetch, hub, 0.2)
    assert (outcome.decision, outcome.reason, outcome.woken_by) == ("rejected", "tone", "hub")
    assert hub.asked == ["em_1"]
    assert fetch.count == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_hub_s_check_interval_sets_how_often_the_wait_looks(mode: str) -> None:
    fetch = Looks()
    wait(mode, fetch, ApprovalHub(check_interval=0.1), 0.35)
    assert fetch.count in (3, 4)  # at about 0.1, 0.2 and 0.3 s, and at the deadline


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_hub_with_the_default_interval_looks_only_at_the_deadline(mode: str) -> None:
    fetch = Looks()
    outcome = wait(mode, fetch, ApprovalHub(), 0.2)
    assert fetch.count == 1
    assert outcome.status_checks == 1


def test_a_watched_wait_still_wakes_at_once_on_a_decision() -> None:
    hub = ApprovalHub(check_interval=None)
    hub.publish("em_1", REJECTED)  # heard before the wait: remembered
    fetch = Looks()
    outcome = wait("sync", fetch, hub, 30)
    assert (outcome.decision, outcome.woken_by, fetch.count) == ("rejected", "hub", 0)
