"""The fleet watcher's timing decisions at their exact edges (mm_assistants.approvals.fleet):
a process registers its mailboxes no more than once per ``every`` (not again in the same
instant, nor a fraction of a second later), and a look renews its claim from the very moment
a third of the lease has gone by."""

from __future__ import annotations

import pytest

from mm_assistants.approvals import fleet


@pytest.mark.parametrize("elapsed", [0.0, 0.001, 0.5, 0.999, 1.0, 29.999])
def test_a_registration_inside_its_period_is_not_repeated(elapsed: float) -> None:
    # Including the same instant and a fraction of a second later: a sweep that runs
    # twice in a row must not write the same rows twice.
    assert fleet.register_due(100.0, 100.0 + elapsed, 30.0) is False


@pytest.mark.parametrize("elapsed", [30.0, 30.001, 3600.0])
def test_a_registration_is_due_once_its_period_is_over(elapsed: float) -> None:
    assert fleet.register_due(100.0, 100.0 + elapsed, 30.0) is True


@pytest.mark.parametrize("elapsed", [-0.001, -1.0, -100.0])
def test_a_clock_that_went_back_makes_a_registration_due(elapsed: float) -> None:
    assert fleet.register_due(100.0, 100.0 + elapsed, 30.0) is True


def test_a_process_that_never_registered_is_due_at_once() -> None:
    assert fleet.register_due(None, 0.0, 30.0) is True


def test_the_default_registration_period_is_thirty_seconds() -> None:
    assert fleet.REGISTER_EVERY == 30.0


def test_a_claim_is_renewed_exactly_when_a_third_of_the_lease_is_gone() -> None:
    # 30 s lease: 10 s after the last renewal is the first moment to renew.
    assert fleet.renew_due(100.0, 110.0, 30.0) is True
    assert fleet.renew_due(100.0, 109.999, 30.0) is False
    assert fleet.renew_due(0.0, 3.0, 9.0) is True
    assert fleet.renew_due(0.0, 2.999, 9.0) is False


def test_a_claim_just_taken_is_not_renewed() -> None:
    assert fleet.renew_due(100.0, 100.0, 30.0) is False
