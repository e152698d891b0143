"""The batch rule's pure parts: which failure is raised, what it says of the siblings, and
the stop signal that also hears a run's own cancel event."""

from __future__ import annotations

import threading
import time

import pytest

from mm_assistants.dispatch import ToolCallError, ToolResult
from mm_assistants.dispatch.batch import Outcome, StopSignal, batch_failure, stoppable
from tests.dispatch.conftest import call

CALLS = [call("read_email", {"email_id": f"em_{i}"}, call_id=f"c{i}") for i in range(4)]


def ok(index: int) -> ToolResult:
    return ToolResult(call_id=f"c{index}", name="read_email", output="{}", ok=True)


def failed(index: int) -> ToolCallError:
    return ToolCallError(
        ToolResult(call_id=f"c{index}", name="read_email", output="{}", ok=False, error_type="x")
    )


def test_no_failure_no_error() -> None:
    assert batch_failure(CALLS, [ok(0), None, ok(2), None]) is None


def test_the_first_failure_in_call_order_wins_and_tells_the_siblings_fate() -> None:
    first, later = failed(1), failed(3)
    outcomes: list[Outcome] = [ok(0), first, None, later]
    error = batch_failure(CALLS, outcomes)
    assert error is first
    assert [r.call_id for r in first.completed] == ["c0", "c3"]  # a failed sibling finished too
    assert first.unfinished == ("c2",)


@pytest.mark.parametrize(
    "other",
    [pytest.param(RuntimeError("bug"), id="bug"), pytest.param(KeyboardInterrupt(), id="ctrl-c")],
)
def test_other_errors_are_raised_as_they_are(other: BaseException) -> None:
    assert batch_failure(CALLS, [None, other, None, None]) is other


def test_a_stop_signal_is_set_by_the_batch() -> None:
    signal = StopSignal()
    threading.Timer(0.05, signal.set).start()
    assert signal.wait(5)
    assert signal.is_set()


def test_a_stop_signal_hears_the_runs_cancel_event() -> None:
    run_cancel = threading.Event()
    signal = StopSignal(run_cancel)
    assert not signal.wait(0.01)
    threading.Timer(0.05, run_cancel.set).start()
    started = time.monotonic()
    assert signal.wait(5)
    assert time.monotonic() - started < 2
    assert signal.is_set()


def test_stoppable_links_each_call_without_changing_it() -> None:
    run_cancel = threading.Event()
    calls = [call("read_email", {"email_id": "e"}, call_id="c1", cancel=run_cancel)]
    linked, signals = stoppable(calls)
    assert linked == calls  # the cancel event is not part of a call's identity
    assert linked[0].context.cancel is signals[0]
    run_cancel.set()
    assert signals[0].is_set()
