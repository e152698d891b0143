"""Wait for a human's decision on one held email: poll with backoff, or wake from a hub.

``fetch(email_id, mailbox_id)`` reads the email's current record (``None`` when the look
failed; the wait then simply tries again later). Without a hub the wait checks the status
on the policy's growing schedule. With a hub it relies on the hub's wake-up and checks the
status only every ``hub.check_interval`` seconds (`HUB_CHECK_INTERVAL` for a hub that
names none) and once more at the deadline, in case an event was lost. A hub whose
``check_interval`` is ``None`` has a fleet watcher looking for lost decisions
(`mm_assistants.approvals.fleet_watcher`): the wait then makes no status request at all
and, at its deadline, asks the hub (``hub.current``) for a decision it may have missed.
A wake-up never brings a look forward: a wait woken a million times by records that
decide nothing still looks only on its schedule. A ``cancel`` event, once set (from any
thread), ends the wait as still pending within ``CANCEL_CHECK_INTERVAL``:
the run it serves is being cancelled and the email stays held.
Time is the injected ``clock`` and pauses go through the injected ``sleep`` (or the hub) in
every mode, so a fake clock and sleep make any wait instant in tests.
`wait_sync` and `wait_async` differ only in ``await``.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mm_assistants.approvals.hub import ApprovalHub, Subscription
from mm_assistants.approvals.watch import (
    DECISIVE,
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
    """The bookkeeping both waits share: when the next look is due, looks made, time
    waited, how it ended.

    Looks follow one schedule, fixed when the previous look was made (the policy's growing
    delays, or the hub's check interval) and the last one at the deadline; with a hub whose
    interval is ``None`` there is only the last one, and it asks the hub, not MultiMail. A wake
    that does not decide moves nothing: however often a wait is woken, it never looks at
    the email more often than that schedule allows.
    """

    def __init__(
        self,
        email_id: str,
        policy: ApprovalPolicy,
        deadline: float,
        clock: Callable[[], float],
        hub: ApprovalHub | None,
    ) -> None:
        self.email_id = email_id
        self.policy = policy
        self.deadline = deadline
        self.clock = clock
        self.started = clock()
        self.checks = 0
        self.hub = hub is not None
        # a number: look every that many seconds; None: a fleet watcher looks instead
        self.hub_interval: float | None = getattr(hub, "check_interval", HUB_CHECK_INTERVAL)
        self.watched = self.hub and self.hub_interval is None
        self.last: Mapping[str, Any] = {}
        self.next_look = self.started + self._step()

    def _step(self) -> float:
        if not self.hub:
            return self.policy.step(self.checks)
        return math.inf if self.hub_interval is None else self.hub_interval

    def pause(self) -> float | None:
        """Seconds to wait before the next look, ``0`` when it is due now, or ``None`` when
        the deadline has come (the last look is due)."""
        now = self.clock()
        if now >= self.deadline:
            return None
        return max(0.0, min(self.next_look, self.deadline) - now)

    def looked(self, email: Mapping[str, Any] | None) -> ApprovalOutcome | None:
        """Count a status check and schedule the next one; the outcome if it decided."""
        self.checks += 1
        self.next_look = self.clock() + self._step()
        return self.decided(email, "poll")

    def decided(self, email: Mapping[str, Any] | None, woken_by: str) -> ApprovalOutcome | None:
        if email is None:
            return None
        decision = classify(email)
        if decision == "pending" or (woken_by == "hub" and decision not in DECISIVE):
            return None  # a hub's word counts only when it decides
        self.last = email
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
    tracker = _Tracker(email_id, policy, deadline, clock, hub)
    subscription = hub.subscribe(email_id) if hub is not None else None
    try:
        while True:
            if cancel is not None and cancel.is_set():
                return tracker.timed_out("cancel")
            pause = tracker.pause()
            if pause is None:
                if tracker.watched:  # the fleet watcher looked; the hub knows what it found
                    return tracker.decided(_current(hub, email_id), "hub") or tracker.timed_out()
                return tracker.looked(fetch(email_id, mailbox_id)) or tracker.timed_out()
            if pause > 0:
                if subscription is not None:
                    heard = subscription.wait(_slice(pause, cancel))
                    decided = tracker.decided(heard, "hub")
                    if decided is not None:
                        return decided
                else:
                    sleep(_slice(pause, cancel))
                continue  # the look happens only once it is due (or at the deadline)
            seen = tracker.looked(fetch(email_id, mailbox_id))
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
    tracker = _Tracker(email_id, policy, deadline, clock, hub)
    subscription = hub.subscribe_async(email_id) if hub is not None else None
    try:
        while True:
            if cancel is not None and cancel.is_set():
                return tracker.timed_out("cancel")
            pause = tracker.pause()
            if pause is None:
                if tracker.watched:  # the hub may read a database: off the event loop
                    known = await asyncio.to_thread(_current, hub, email_id)
                    return tracker.decided(known, "hub") or tracker.timed_out()
                return tracker.looked(await fetch(email_id, mailbox_id)) or tracker.timed_out()
            if pause > 0:
                if subscription is not None:
                    heard = await subscription.wait_async(_slice(pause, cancel))
                    decided = tracker.decided(heard, "hub")
                    if decided is not None:
                        return decided
                else:
                    await sleep(_slice(pause, cancel))
                continue  # the look happens only once it is due (or at the deadline)
            seen = tracker.looked(await fetch(email_id, mailbox_id))
            if seen is not None:
                return seen
    finally:
        _close(subscription)


def _slice(pause: float, cancel: threading.Event | None) -> float:
    """How long to sleep (or listen) before the loop looks at the clock and the cancel event
    again: the whole pause, or a short slice of it while a cancel may come. Both waits sleep
    through their injected ``sleep`` (or the hub) and measure time by their injected
    ``clock`` only, so a fake clock governs every mode; the event itself is only looked at,
    which keeps a cancel prompt (within one slice) without a second notion of time."""
    return pause if cancel is None else min(pause, CANCEL_CHECK_INTERVAL)


def _current(hub: ApprovalHub | None, email_id: str) -> Mapping[str, Any] | None:
    """The decision the hub knows for ``email_id`` (``None`` from a hub that cannot say)."""
    current = getattr(hub, "current", None)
    return None if current is None else current(email_id)


def _close(subscription: Subscription | None) -> None:
    if subscription is not None:
        subscription.close()
