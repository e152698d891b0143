"""`ApprovalPolicy.park_after`: the refusals a user meets when setting it (exact messages,
the boundaries), and the values it accepts."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.approvals.watch import ApprovalPolicy


@pytest.mark.parametrize("park_after", [None, 0.001, 1, 60.0, 539.999])
def test_a_positive_park_after_below_max_wait_is_kept(park_after: float | None) -> None:
    assert ApprovalPolicy(park_after=park_after).park_after == park_after


def test_park_after_defaults_to_none() -> None:
    assert ApprovalPolicy().park_after is None


@pytest.mark.parametrize(
    ("park_after", "message"),
    [
        (0, "ApprovalPolicy.park_after must be > 0, got 0"),
        (0.0, "ApprovalPolicy.park_after must be > 0, got 0.0"),
        (-1, "ApprovalPolicy.park_after must be > 0, got -1"),
        (float("inf"), "ApprovalPolicy.park_after must be a finite number > 0, got inf"),
        (float("nan"), "ApprovalPolicy.park_after must be a finite number > 0, got nan"),
        (True, "ApprovalPolicy.park_after must be a finite number > 0, got True"),
        ("5", "ApprovalPolicy.park_after must be a finite number > 0, got '5'"),
    ],
    ids=repr,
)
def test_park_after_must_be_a_positive_finite_number(park_after: Any, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        ApprovalPolicy(park_after=park_after)
    assert str(refused.value) == message


def test_park_after_needs_a_policy_that_waits() -> None:
    with pytest.raises(ValueError) as refused:
        ApprovalPolicy(wait=False, park_after=5.0)
    assert str(refused.value) == (
        "ApprovalPolicy.park_after needs wait=True (a run that does not wait has nothing to park)"
    )


def test_a_policy_that_does_not_wait_is_fine_without_park_after() -> None:
    assert ApprovalPolicy(wait=False).wait is False


def test_park_after_equal_to_max_wait_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        ApprovalPolicy(park_after=540.0)
    assert str(refused.value) == "ApprovalPolicy.park_after (540 s) must be below max_wait (540 s)"


def test_park_after_above_max_wait_is_refused_with_both_values() -> None:
    with pytest.raises(ValueError) as refused:
        ApprovalPolicy(max_wait=60.5, park_after=90.0)
    assert str(refused.value) == "ApprovalPolicy.park_after (90 s) must be below max_wait (60.5 s)"


def test_park_after_just_below_a_custom_max_wait_is_kept() -> None:
    assert ApprovalPolicy(max_wait=60.0, park_after=59.5).park_after == 59.5
