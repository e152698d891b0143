"""Wait for a human's decision on one held email: poll with backoff, or wake from a hub.

``fetch(email_id, mailbox_id)`` reads the email's current record (``None`` when the look
failed; the wait then simply tries again later). Without a hub the wait checks the status
on the policy's growing schedule. With a hub it relies on the hub's wake-up and checks the
status only every ``hub_check_interval`` seconds and once more at the deadline, in case an
event was lost. `wait_sync` and `wait_async` differ only in ``await``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mm_assistants.approvals.hub import ApprovalHub, Subscription
from mm_assistants.approvals.watch import (
    ApprovalOutcome,
    ApprovalPolicy,
    classify,
    outcome_from_email,
)

Fetch = Callable[[str, str], "Mapping[str, Any] | None"]
AsyncFetch = Callable[[str, str], Awaitable["Mapping[str, Any] | None"]]
#: With a hub, how often the status is still checked in case a webhook was lost.
HUB_CHECK_INTERVAL = 300.0


class _Tracker:
    """The bookkeeping both waits share: looks made, time waited, how it ended."""

    def __init__(
        self,
        email_id: str,
        policy: ApprovalPolicy,
        deadline: float,
        clock: Callable[[], float],
        hub: bool,
    ) -> None:
        self.email_id = email_id
        self.policy = policy
        self.deadline = deadline
        self.clock = clock
        self.started = clock()
        self.checks = 0
        self.hub = hub
        self.last: Mapping[str, Any] = {}

    def next_delay(self) -> float | None:
        now = self.clock()
        if self.hub:
            remaining = self.deadline - now
            return None if remaining <= 0 else min(HUB_CHECK_INTERVAL, remaining)
        return self.policy.delay(self.checks, now, self.deadline)

    def decided(self, email: Mapping[str, Any] | None, woken_by: str) -> ApprovalOutcome | None:
        if email is None:
            return None
        self.last = email
        if classify(email) == "pending":
            return None
        return self.outcome(email, woken_by)

    def outcome(self, email: Mapping[str, Any], woken_by: str) -> ApprovalOutcome:
        return outcome_from_email(
            self.email_id,
            email,
            waited=self.clock() - self.started,
            status_checks=self.checks,
            woken_by=woken_by,
        )

    def timed_out(self) -> ApprovalOutcome:
        return self.outcome(self.last or {"status": "pending_send_approval"}, "deadline")


def wait_sync(
    fetch: Fetch,
    email_id: str,
    mailbox_id: str,
    *,
    policy: ApprovalPolicy,
    deadline: float,
    hub: ApprovalHub | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> ApprovalOutcome:
    """Block until ``email_id`` is decided or ``deadline`` (unix seconds) comes."""
    tracker = _Tracker(email_id, policy, deadline, clock, hub is not None)
    subscription = hub.subscribe(email_id) if hub is not None else None
    try:
        while True:
            delay = tracker.next_delay()
            if delay is None:
                tracker.checks += 1
                final = tracker.decided(fetch(email_id, mailbox_id), "poll")
                return final or tracker.timed_out()
            if subscription is not None:
                heard = tracker.decided(subscription.wait(delay), "hub")
                if heard is not None:
                    return heard
            else:
                sleep(delay)
            if tracker.clock() >= deadline:
                continue  # the final look happens at the top of the loop
            tracker.checks += 1
            seen = tracker.decided(fetch(email_id, mailbox_id), "poll")
            if seen is not None:
                return seen
    finally:
        _close(subscription)


async def wait_async(
    fetch: AsyncFetch,
    email_id: str,
    mailbox_id: str,
    *,
    policy: ApprovalPolicy,
    deadline: float,
    hub: ApprovalHub | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> ApprovalOutcome:
    """`wait_sync` for asyncio."""
    tracker = _Tracker(email_id, policy, deadline, clock, hub is not None)
    subscription = hub.subscribe_async(email_id) if hub is not None else None
    try:
        while True:
            delay = tracker.next_delay()
            if delay is None:
                tracker.checks += 1
                final = tracker.decided(await fetch(email_id, mailbox_id), "poll")
                return final or tracker.timed_out()
            if subscription is not None:
                heard = tracker.decided(await subscription.wait_async(delay), "hub")
                if heard is not None:
                    return heard
            else:
                await sleep(delay)
            if tracker.clock() >= deadline:
                continue
            tracker.checks += 1
            seen = tracker.decided(await fetch(email_id, mailbox_id), "poll")
            if seen is not None:
                return seen
    finally:
        _close(subscription)


def _close(subscription: Subscription | None) -> None:
    if subscription is not None:
        subscription.close()
