"""What ``dispatch_many`` does when a call of the batch fails: one rule for both shells.

The first failure ends the batch at once (with ``on_error="raise"`` a refusal or API
error is a failure, as is any error escaping a dispatch); nobody waits for the siblings:

- a sibling not started never starts;
- a sibling in an approval wait is told to stop: its cancel event is set, so the wait
  ends as still pending, the email stays held (and is recorded in the pending store, when
  there is one, for a late decision to reach the conversation);
- an async sibling is cancelled wherever it is; a sync sibling inside an HTTP request
  cannot be interrupted (threads cannot be cancelled): it finishes in the background and
  its result is dropped. A sync ``wait_for_email`` keeps polling until its own timeout.

A write that reached MultiMail cannot be unsent, so the raised `ToolCallError` says what
became of the siblings: ``completed`` holds the results of those that finished (in call
order), ``unfinished`` the ids of the rest, whose effect is unknown. Dispatching an
unfinished call again is safe for gated sends (``send_email``, ``reply_email``,
``schedule_email``): its idempotency key comes from the call, so MultiMail answers the
first send instead of sending twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Sequence
from dataclasses import replace

from mm_assistants.dispatch.calls import ToolCall, ToolResult
from mm_assistants.dispatch.core import ToolCallError

#: How often a batch's stop signal looks at a run's own cancel event it is linked to.
LINK_CHECK_INTERVAL = 0.1

#: One call's state when the batch looks: its result, its error, or ``None`` (not done).
Outcome = ToolResult | BaseException | None


def outcome_of(
    future: concurrent.futures.Future[ToolResult] | asyncio.Future[ToolResult],
) -> Outcome:
    """The `Outcome` of one call's future (a thread's or a task's): ``None`` until it is
    done, and for a call that was cancelled before it finished."""
    if not future.done() or future.cancelled():
        return None
    return future.exception() or future.result()


def batch_failure(calls: Sequence[ToolCall], outcomes: Sequence[Outcome]) -> BaseException | None:
    """The error ``dispatch_many`` raises now, or ``None`` while no call has failed.

    The first failure in call order wins; a `ToolCallError` is given the fate of its
    siblings (``completed`` and ``unfinished``).
    """
    failure = next((item for item in outcomes if isinstance(item, BaseException)), None)
    if isinstance(failure, ToolCallError):
        completed: list[ToolResult] = []
        unfinished: list[str] = []
        for call, outcome in zip(calls, outcomes, strict=True):
            if outcome is failure:
                continue
            if isinstance(outcome, ToolResult):
                completed.append(outcome)
            elif isinstance(outcome, ToolCallError):
                completed.append(outcome.result)
            else:  # not done, or ended by something other than a result
                unfinished.append(str(call.id))
        failure.completed = tuple(completed)
        failure.unfinished = tuple(unfinished)
    return failure


class StopSignal(threading.Event):
    """A call's cancel event within a batch: set when the batch stops, and also seen as set
    once the run's own cancel event (``parent``) is, so both end an approval wait."""

    def __init__(self, parent: threading.Event | None = None) -> None:
        super().__init__()
        self._parent = parent

    def is_set(self) -> bool:
        """True once the batch stopped or the parent event is set."""
        return super().is_set() or (self._parent is not None and self._parent.is_set())

    def wait(self, timeout: float | None = None) -> bool:
        """Like `threading.Event.wait`, also woken (within a tenth of a second) by the parent."""
        if self._parent is None:
            return super().wait(timeout)
        end = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            slice_ = LINK_CHECK_INTERVAL if end is None else end - time.monotonic()
            if slice_ <= 0:
                return False
            super().wait(min(slice_, LINK_CHECK_INTERVAL))
        return True


def stoppable(calls: Sequence[ToolCall]) -> tuple[list[ToolCall], list[StopSignal]]:
    """The calls, each with a `StopSignal` as its cancel event, and those signals (set them
    all to stop the batch)."""
    signals = [StopSignal(call.context.cancel) for call in calls]
    linked = [
        replace(call, context=replace(call.context, cancel=signal))
        for call, signal in zip(calls, signals, strict=True)
    ]
    return linked, signals
