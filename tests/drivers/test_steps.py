"""The pure state machine of an Assistants run."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.drivers.steps import (
    Cancel,
    Dispatch,
    Finish,
    Poll,
    PollPolicy,
    next_action,
    rejects_outputs,
)

POLICY = PollPolicy(
    first_interval=0.2, multiplier=2.0, max_interval=1.0, min_interval=0.05, max_hint=5.0
)


def act(status: str, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "polls": 0,
        "hint_ms": None,
        "policy": POLICY,
        "now": 0.0,
        "deadline": None,
    }
    options.update(overrides)
    return next_action(status, **options)


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "expired", "incomplete"])
def test_terminal_statuses_finish(status: str) -> None:
    assert act(status) == Finish(status)
    assert act(status, cancel_requested=True) == Finish(status)


def test_requires_action_dispatches_or_returns_by_policy() -> None:
    assert act("requires_action") == Dispatch()
    assert act("requires_action", on_requires_action="return") == Finish("requires_action")


@pytest.mark.parametrize("status", ["queued", "in_progress", "cancelling", "something_new"])
def test_working_and_unknown_statuses_poll_with_backoff(status: str) -> None:
    assert [act(status, polls=n).delay for n in range(4)] == [0.2, 0.4, 0.8, 1.0]


@pytest.mark.parametrize(
    ("hint", "delay"),
    [("300", 0.3), ("1", 0.05), ("60000", 5.0), ("soon", 0.8), ("-5", 0.8), ("nan", 0.8)],
)
def test_the_poll_after_header_wins_within_bounds(hint: str, delay: float) -> None:
    assert act("in_progress", polls=2, hint_ms=hint) == Poll(delay)


def test_the_drivers_deadline_cancels_and_bounds_the_sleep() -> None:
    assert act("in_progress", now=10.0, deadline=10.0) == Cancel("the driver's deadline passed")
    assert act("in_progress", now=9.9, deadline=10.0).delay == pytest.approx(0.1)
    assert act("in_progress", cancel_requested=True) == Cancel("cancel requested")
    assert isinstance(act("cancelling", cancel_requested=True), Poll)


def test_bad_poll_policies_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="first_interval"):
        PollPolicy(first_interval=0)
    with pytest.raises(ValueError, match="multiplier"):
        PollPolicy(multiplier=0.9)
    with pytest.raises(ValueError, match="min_interval"):
        PollPolicy(min_interval=20, max_hint=10)


def test_rejected_outputs_are_recognised_by_the_api_text() -> None:
    assert rejects_outputs('Runs in status "expired" do not accept tool outputs.')
    assert not rejects_outputs("Expected tool outputs for call_ids ['call_1']")


def test_the_first_look_of_a_turn_waits_as_long_as_the_last_turn_took() -> None:
    policy = PollPolicy(first_interval=0.2, max_interval=2.0)
    assert policy.delay(0, None) == 0.2  # nothing learnt yet
    assert policy.delay(0, None, last_turn=0.5) == 0.5
    assert policy.delay(0, None, last_turn=0.01) == 0.2  # never below the first interval
    assert policy.delay(0, None, last_turn=30.0) == 2.0  # nor above the longest
    assert policy.delay(1, None, last_turn=0.5) == pytest.approx(0.3)  # later looks back off
    assert policy.delay(0, "100", last_turn=0.5) == 0.1  # the server's hint still wins
    assert PollPolicy(learn=False).delay(0, None, last_turn=0.5) == 0.2
