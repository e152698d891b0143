"""Wait for a human's decision on one held email: poll with backoff, or wake from a hub.

``fetch(email_id, mailbox_id)`` reads the email's current record (``None`` when the look
failed; the wait then simply tries again later). Without a hub the wait checks the status
on the policy's growing schedule. With a hub it relies on the hub's wake-up and checks the
status only every ``hub_check_interval`` seconds and once more at the deadline, in case an
event was lost. A ``cancel`` event, once set (from any thread), ends the wait at once as
still pending: the run it serves is being cancelled and the email stays held.
`wait_sync` and `wait_async` differ only in ``await``.
"""

from __future__ import annotations

import asyncio
import threading
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
#: How often a wait that cannot be woken directly looks at its ``cancel`` event.
CANCEL_CHECK_INTERVAL = 0.05


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

    def timed_out(self, woken_by: str = "deadline") -> ApprovalOutcome:
        return self.outcome(self.last or {"status": "pending_send_approval"}, woken_by)


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
    cancel: threading.Event | None = None,
) -> ApprovalOutcome:
    """Block until ``email_id`` is decided, ``deadline`` (unix seconds) comes or ``cancel``
    is set."""
    tracker = _Tracker(email_id, policy, deadline, clock, hub is not None)
    subscription = hub.subscribe(email_id) if hub is not None else None
    try:
        while True:
            if cancel is not None and cancel.is_set():
                return tracker.timed_out("cancel")
            delay = tracker.next_delay()
            if delay is None:
                tracker.checks += 1
                final = tracker.decided(fetch(email_id, mailbox_id), "poll")
                return final or tracker.timed_out()
            if subscription is not None:
                heard = tracker.decided(_hub_wait(subscription, delay, cancel), "hub")
                if heard is not None:
                    return heard
            elif cancel is not None:
                cancel.wait(delay)  # a cancel cuts the pause short
            else:
                sleep(delay)
            if tracker.clock() >= deadline or (cancel is not None and cancel.is_set()):
                continue  # the final look (or the end on cancel) happens at the top
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
    cancel: threading.Event | None = None,
) -> ApprovalOutcome:
    """`wait_sync` for asyncio (cancelling the task also ends the wait)."""
    tracker = _Tracker(email_id, policy, deadline, clock, hub is not None)
    subscription = hub.subscribe_async(email_id) if hub is not None else None
    try:
        while True:
            if cancel is not None and cancel.is_set():
                return tracker.timed_out("cancel")
            delay = tracker.next_delay()
            if delay is None:
                tracker.checks += 1
                final = tracker.decided(await fetch(email_id, mailbox_id), "poll")
                return final or tracker.timed_out()
            if subscription is not None:
                heard = tracker.decided(await _hub_wait_async(subscription, delay, cancel), "hub")
                if heard is not None:
                    return heard
            else:
                await _pause_async(sleep, delay, cancel)
            if tracker.clock() >= deadline or (cancel is not None and cancel.is_set()):
                continue
            tracker.checks += 1
            seen = tracker.decided(await fetch(email_id, mailbox_id), "poll")
            if seen is not None:
                return seen
    finally:
        _close(subscription)


def _hub_wait(
    subscription: Subscription, delay: float, cancel: threading.Event | None
) -> Mapping[str, Any] | None:
    """What the hub hears within ``delay`` seconds, listening in slices while a cancel may
    come (the hub cannot be woken by it)."""
    if cancel is None:
        return subscription.wait(delay)
    end = time.monotonic() + delay
    while not cancel.is_set():
        remaining = end - time.monotonic()
        if remaining <= 0:
            return None
        heard = subscription.wait(min(remaining, CANCEL_CHECK_INTERVAL))
        if heard is not None:
            return heard
    return None


async def _hub_wait_async(
    subscription: Subscription, delay: float, cancel: threading.Event | None
) -> Mapping[str, Any] | None:
    if cancel is None:
        return await subscription.wait_async(delay)
    end = time.monotonic() + delay
    while not cancel.is_set():
        remaining = end - time.monotonic()
        if remaining <= 0:
            return None
        heard = await subscription.wait_async(min(remaining, CANCEL_CHECK_INTERVAL))
        if heard is not None:
            return heard
    return None


async def _pause_async(
    sleep: Callable[[float], Awaitable[Any]], delay: float, cancel: threading.Event | None
) -> None:
    # a threading.Event cannot be awaited: look at it between short sleeps
    if cancel is None:
        await sleep(delay)
        return
    end = time.monotonic() + delay
    while not cancel.is_set():
        remaining = end - time.monotonic()
        if remaining <= 0:
            return
        await sleep(min(remaining, CANCEL_CHECK_INTERVAL))


def _close(subscription: Subscription | None) -> None:
    if subscription is not None:
        subscription.close()
