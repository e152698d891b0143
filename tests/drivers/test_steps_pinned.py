"""The run state machine, pinned (issue 14): the learned turn time reaching the poll policy
through `next_action`, PollPolicy's defaults and limits with their messages, the exact
edges of the deadline and of the server's hint."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mm_assistants.drivers.steps import (
    TERMINAL_STATUSES,
    Cancel,
    Dispatch,
    Finish,
    Poll,
    PollPolicy,
    is_terminal,
    next_action,
    rejects_outputs,
)

STEP = {"polls": 0, "hint_ms": None, "now": 0.0, "deadline": None}


def test_next_action_passes_the_learned_turn_time_to_the_poll_policy() -> None:
    policy = PollPolicy()
    # a 0.7 s turn: the first look waits 0.7 s, not the blind 0.2 s (one poll saved a turn)
    assert next_action("in_progress", **STEP, policy=policy, last_turn=0.7) == Poll(0.7)
    assert next_action("in_progress", **STEP, policy=policy) == Poll(0.2)
    blind = PollPolicy(learn=False)
    assert next_action("in_progress", **STEP, policy=blind, last_turn=0.7) == Poll(0.2)


def test_the_learned_time_only_shapes_the_first_look_and_is_clamped() -> None:
    policy = PollPolicy()
    assert policy.delay(1, None, last_turn=0.7) == pytest.approx(0.3)
    assert policy.delay(0, None, last_turn=0.01) == 0.2
    assert policy.delay(0, None, last_turn=60.0) == 2.0


def test_the_poll_policy_defaults_are_pinned() -> None:
    assert dataclasses.asdict(PollPolicy()) == {
        "first_interval": 0.2,
        "max_interval": 2.0,
        "multiplier": 1.5,
        "min_interval": 0.05,
        "max_hint": 10.0,
        "learn": True,
    }
    policy = PollPolicy()
    assert [round(policy.delay(n, None), 4) for n in range(7)] == [
        0.2,
        0.3,
        0.45,
        0.675,
        1.0125,
        1.5188,
        2.0,
    ]


@pytest.mark.parametrize(
    ("hint", "delay"),
    [
        pytest.param("0", 0.05, id="zero-raised-to-min"),
        pytest.param("50", 0.05, id="at-min"),
        pytest.param("10000", 10.0, id="at-max"),
        pytest.param("10001", 10.0, id="over-max"),
        pytest.param("1500", 1.5, id="inside"),
        pytest.param("-1", 0.2, id="negative-ignored"),
        pytest.param("nan", 0.2, id="nan-ignored"),
        pytest.param("inf", 0.2, id="inf-ignored"),
        pytest.param("soon", 0.2, id="garbage-ignored"),
    ],
)
def test_the_servers_hint_is_clamped_or_ignored(hint: str, delay: float) -> None:
    assert PollPolicy().delay(0, hint) == delay


@pytest.mark.parametrize(
    "edge",
    [
        pytest.param({"multiplier": 1}, id="steady"),
        pytest.param({"min_interval": 10.0, "max_hint": 10.0}, id="min-equals-max-hint"),
        pytest.param({"learn": False}, id="no-learning"),
        pytest.param({"first_interval": 0.001, "max_interval": 0.001}, id="tiny"),
    ],
)
def test_the_edges_of_each_limit_are_accepted(edge: dict[str, Any]) -> None:
    assert dataclasses.asdict(PollPolicy(**edge)).items() >= edge.items()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        pytest.param(
            {"first_interval": 0}, "PollPolicy.first_interval must be > 0, got 0", id="first"
        ),
        pytest.param(
            {"max_interval": float("nan")},
            "PollPolicy.max_interval must be a finite number > 0, got nan",
            id="max-nan",
        ),
        pytest.param(
            {"min_interval": float("inf")},
            "PollPolicy.min_interval must be a finite number > 0, got inf",
            id="min-inf",
        ),
        pytest.param({"max_hint": -1}, "PollPolicy.max_hint must be > 0, got -1", id="hint"),
        pytest.param(
            {"multiplier": 0.5}, "PollPolicy.multiplier must be >= 1, got 0.5", id="shrinks"
        ),
        pytest.param(
            {"min_interval": 11.0},
            "PollPolicy.min_interval must not exceed max_hint",
            id="min-over-max-hint",
        ),
    ],
)
def test_a_refused_poll_policy_says_exactly_why(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as refused:
        PollPolicy(**bad)
    assert str(refused.value) == message


def test_learn_must_be_a_switch() -> None:
    with pytest.raises(TypeError) as refused:
        PollPolicy(learn=1)  # type: ignore[arg-type]
    assert str(refused.value) == "PollPolicy.learn must be True or False, got 1"


def test_the_deadline_edges() -> None:
    policy = PollPolicy()
    at = {"polls": 0, "hint_ms": None, "policy": policy}
    assert next_action("queued", **at, now=10.0, deadline=10.0) == Cancel(
        "the driver's deadline passed"
    )
    assert next_action("queued", **at, now=9.9, deadline=10.0) == Poll(pytest.approx(0.1))
    # a run already cancelling is watched to its end, even past the deadline
    assert next_action("cancelling", **at, now=11.0, deadline=10.0) == Poll(0.0)
    assert next_action("cancelling", **at, now=0.0, deadline=None, cancel_requested=True) == Poll(
        0.2
    )
    assert next_action("queued", **at, now=0.0, deadline=None, cancel_requested=True) == Cancel(
        "cancel requested"
    )


def test_requires_action_is_dispatched_by_default() -> None:
    assert next_action("requires_action", **STEP, policy=PollPolicy()) == Dispatch()
    assert next_action(
        "requires_action", **STEP, policy=PollPolicy(), on_requires_action="return"
    ) == Finish("requires_action")
    # a terminal status wins over a cancel request
    assert next_action("completed", **STEP, policy=PollPolicy(), cancel_requested=True) == Finish(
        "completed"
    )


def test_the_terminal_statuses_are_pinned() -> None:
    assert frozenset({"completed", "failed", "cancelled", "expired", "incomplete"}) == (
        TERMINAL_STATUSES
    )
    assert not is_terminal("requires_action")
    assert not is_terminal("cancelling")


@pytest.mark.parametrize(
    ("error", "rejects"),
    [
        pytest.param('Runs in status "expired" do not accept tool outputs.', True, id="plural"),
        pytest.param("This run does not accept tool outputs", True, id="singular"),
        pytest.param("Rate limit reached", False, id="other"),
    ],
)
def test_rejects_outputs_reads_the_message_attribute_or_the_text(error: str, rejects: bool) -> None:
    class APIError(Exception):
        message = error

    assert rejects_outputs(APIError("unrelated")) is rejects
    assert rejects_outputs(error) is rejects
