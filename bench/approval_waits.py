"""The timing loop of `approval_wakeup`: held sends waited on side by side, and the reviewer
that decides each one on time.

`run_group` starts the waits of one delay ``stagger`` seconds apart, the ways taking turns,
each in a thread of its own; the reviewer (this thread) spots each email in the sandbox's
held list as it is queued (looking every 5 ms while a wait has started and its email is not
yet seen) and approves it ``delay`` seconds later through the sandbox's own control, which
makes no API request. Every wait is bounded: a runner gets ``delay + slack`` seconds, the
reviewer and the joins a deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from mm_assistants.sandbox import Sandbox

STATUS_ROUTE = "GET /v1/mailboxes/{mailbox_id}/emails/{email_id}"
LOOK_INTERVAL = 0.005  # how often the reviewer looks for a newly held email

#: ``runner(subject, call_id, max_wait)`` sends one email and waits for its decision:
#: ``("approved", status GETs made)`` or another decision.
Runner = Callable[[str, str, float], tuple[str, int]]


@dataclass(frozen=True)
class Wait:
    """One measured wait: the way, the delay asked for and the one measured (queued →
    decided), the latency (decide returned → tool output ready) and its status GETs."""

    variant: str
    delay: float
    decided_after: float
    latency: float
    status_gets: int


@dataclass
class Slot:
    """One wait under way: when it starts, what the reviewer saw, when it ended."""

    variant: str
    delay: float
    subject: str
    call_id: str
    start_at: float
    started: threading.Event = field(default_factory=threading.Event)
    email_id: str | None = None
    queued_at: float | None = None
    decided_at: float | None = None
    done_at: float | None = None
    decision: str | None = None
    gets: int | None = None
    error: BaseException | None = None

    def run(self, runner: Runner, slack: float) -> None:
        time.sleep(max(self.start_at - time.perf_counter(), 0.0))
        self.started.set()
        try:
            self.decision, self.gets = runner(self.subject, self.call_id, self.delay + slack)
        except BaseException as exc:  # noqa: BLE001 -- surfaced by the group
            self.error = exc
        self.done_at = time.perf_counter()

    def wait(self) -> Wait:
        if self.error is not None:
            raise RuntimeError(f"the {self.variant} wait failed: {self.error!r}")
        if self.decision != "approved" or self.gets is None:
            raise RuntimeError(f"the {self.variant} wait ended {self.decision!r}, not approved")
        assert self.queued_at is not None
        assert self.decided_at is not None
        assert self.done_at is not None
        return Wait(
            variant=self.variant,
            delay=self.delay,
            decided_after=self.decided_at - self.queued_at,
            latency=self.done_at - self.decided_at,
            status_gets=self.gets,
        )


def status_gets(sandbox: Sandbox) -> int:
    """How many status GETs of an email the sandbox has served so far."""
    return int(sandbox.counters.snapshot()["routes"].get(STATUS_ROUTE, 0))


def run_group(
    sandbox: Sandbox,
    runners: Mapping[str, Runner],
    delay: float,
    *,
    repetitions: int,
    stagger: float,
    slack: float,
) -> tuple[list[Wait], dict[str, int]]:
    """The waits of one delay, side by side; the reviewer decides each ``delay`` after it
    was queued. Checks that the GETs the ways counted are those the sandbox served."""
    ways = list(runners)
    before = status_gets(sandbox)
    began = time.perf_counter()
    slots = [
        Slot(
            variant=ways[index % len(ways)],
            delay=delay,
            subject=f"Wake-up {delay:g} s #{index}",
            call_id=f"call_wakeup_{delay:g}_{index}",
            start_at=began + index * stagger,
        )
        for index in range(len(ways) * repetitions)
    ]
    threads = [
        threading.Thread(target=slot.run, args=(runners[slot.variant], slack), name="bench-wait")
        for slot in slots
    ]
    for thread in threads:
        thread.start()
    deadline = began + len(slots) * stagger + delay + slack
    review(sandbox, slots, delay, deadline)
    for thread in threads:
        thread.join(max(deadline + slack - time.perf_counter(), 0.1))
    served = status_gets(sandbox) - before
    found = [slot.wait() for slot in slots]
    counted = sum(wait.status_gets for wait in found)
    if served != counted:
        raise RuntimeError(f"the sandbox served {served} status GETs, the ways counted {counted}")
    return found, {"served": served, "counted": counted}


def review(sandbox: Sandbox, slots: Sequence[Slot], delay: float, deadline: float) -> None:
    """The reviewer: spots each held email as it is queued, approves it ``delay`` later."""
    by_subject = {slot.subject: slot for slot in slots}
    while time.perf_counter() < deadline:
        if any(slot.started.is_set() and slot.email_id is None for slot in slots):
            looked = time.perf_counter()
            for held in sandbox.multimail.pending():
                slot = by_subject.get(str(held["subject"]))
                if slot is not None and slot.email_id is None:
                    slot.email_id, slot.queued_at = str(held["id"]), looked
        for slot in slots:
            if slot.email_id is None or slot.decided_at is not None:
                continue
            assert slot.queued_at is not None
            if time.perf_counter() >= slot.queued_at + delay:
                sandbox.multimail.decide(slot.email_id, "approve")
                slot.decided_at = time.perf_counter()
        if all(slot.decided_at is not None for slot in slots):
            return
        time.sleep(pause(slots, delay))
    raise RuntimeError(f"the reviewer did not decide every email of the {delay:g} s group")


def pause(slots: Sequence[Slot], delay: float) -> float:
    """Until the next decision is due, or the next look for a newly held email."""
    now = time.perf_counter()
    due = [
        slot.queued_at + delay - now
        for slot in slots
        if slot.queued_at is not None and slot.decided_at is None
    ]
    starts = [slot.start_at - now for slot in slots if slot.email_id is None]
    looking = any(slot.started.is_set() and slot.email_id is None for slot in slots)
    soonest = min([*due, *starts, LOOK_INTERVAL if looking else 0.1])
    return max(soonest, 0.0)
