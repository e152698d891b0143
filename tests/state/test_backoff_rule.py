"""The backoff table a thread whose run raised, or a parked run whose resume raised, waits
by (`mm_assistants.state.backoff.retry_delay`): attempt n waits min(5 x 2^(n-1), 300)
seconds, nothing before the first attempt, and the base and cap given override the
module's defaults, which are read at each call."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm_assistants.state import backoff
from mm_assistants.state.backoff import BACKOFF_BASE, BACKOFF_CAP, retry_delay


def test_the_defaults_are_five_seconds_doubling_up_to_five_minutes() -> None:
    assert (BACKOFF_BASE, BACKOFF_CAP) == (5.0, 300.0)


@pytest.mark.parametrize(
    ("attempts", "wait"),
    [
        (1, 5.0),
        (2, 10.0),
        (3, 20.0),
        (4, 40.0),
        (5, 80.0),
        (6, 160.0),
        (7, 300.0),  # 320 capped
        (8, 300.0),
        (1000, 300.0),
        (10**9, 300.0),  # no huge number is built: the doublings are bounded
    ],
)
def test_attempt_n_waits_the_pinned_seconds(attempts: int, wait: float) -> None:
    delay = retry_delay(attempts)
    assert delay == wait
    assert type(delay) is float


@pytest.mark.parametrize("attempts", [0, -1, -100])
def test_before_any_attempt_raised_nothing_is_waited(attempts: int) -> None:
    delay = retry_delay(attempts)
    assert delay == 0.0
    assert type(delay) is float
    # the given base and cap do not make a wait either
    assert retry_delay(attempts, base=7.0, cap=70.0) == 0.0


@given(st.integers(min_value=1, max_value=200))
def test_the_table_is_min_of_five_times_two_to_the_n_minus_one_and_300(attempts: int) -> None:
    assert retry_delay(attempts) == min(5 * 2 ** (attempts - 1), 300)


def test_a_given_base_replaces_the_default_base() -> None:
    assert retry_delay(1, base=1.0) == 1.0
    assert retry_delay(3, base=1.0) == 4.0
    assert retry_delay(3, base=0.5, cap=1000.0) == 2.0


def test_a_given_cap_replaces_the_default_cap() -> None:
    assert retry_delay(10, cap=7.0) == 7.0
    assert retry_delay(10, base=1.0, cap=1000.0) == 512.0
    assert retry_delay(12, cap=1000.0) == 1000.0
    # a cap below the base caps the first wait too
    assert retry_delay(1, base=5.0, cap=2.0) == 2.0


def test_the_module_defaults_are_read_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backoff, "BACKOFF_BASE", 2.0)
    monkeypatch.setattr(backoff, "BACKOFF_CAP", 6.0)
    assert [retry_delay(n) for n in range(0, 5)] == [0.0, 2.0, 4.0, 6.0, 6.0]
