"""The pure retry decisions: RetryPolicy, next_delay, parse_retry_after."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm_assistants.multimail import RetryPolicy
from mm_assistants.multimail.retries import is_retryable, next_delay, parse_retry_after

seconds = st.floats(min_value=0, max_value=120, allow_nan=False)
policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(min_value=1, max_value=2000),
    initial_delay=seconds,
    max_delay=seconds,
    multiplier=st.floats(min_value=1, max_value=100),
    jitter=st.floats(min_value=0, max_value=1),
    max_retry_after=seconds,
)
failures = st.fixed_dictionaries(
    {
        "retry_safe": st.booleans(),
        "status": st.one_of(st.none(), st.integers(min_value=100, max_value=599)),
        "transport_error": st.booleans(),
    }
)
noise = st.floats(min_value=0, max_value=1, exclude_max=True)


@given(policy=policies, attempt=st.integers(min_value=1, max_value=3000), failure=failures, r=noise)
def test_backoff_is_bounded_and_only_for_retryable_failures(
    policy: RetryPolicy, attempt: int, failure: dict[str, object], r: float
) -> None:
    delay = next_delay(policy, attempt, random=lambda: r, **failure)  # type: ignore[arg-type]
    if delay is None:
        return
    assert 0 <= delay <= policy.max_delay * (1 + policy.jitter)
    assert attempt < policy.max_attempts
    status, safe = failure["status"], failure["retry_safe"]
    if failure["transport_error"]:
        assert safe  # it may have reached the server: only a safe request goes again
    else:
        assert status == 429 or (isinstance(status, int) and status >= 500 and safe)


@given(policy=policies, failure=failures, retry_after=seconds)
def test_retry_after_is_honoured_exactly_up_to_the_cap(
    policy: RetryPolicy, failure: dict[str, object], retry_after: float
) -> None:
    delay = next_delay(policy, 1, retry_after=retry_after, **failure)  # type: ignore[arg-type]
    retryable = policy.max_attempts > 1 and is_retryable(**failure)  # type: ignore[arg-type]
    if retryable and retry_after <= policy.max_retry_after:
        assert delay == retry_after
    else:
        assert delay is None


@given(policy=policies, attempt=st.integers(min_value=1, max_value=200))
def test_without_jitter_the_backoff_never_shrinks(policy: RetryPolicy, attempt: int) -> None:
    steady = dataclasses.replace(policy, jitter=0.0, max_attempts=1000)
    this = next_delay(steady, attempt, retry_safe=True, status=503)
    after = next_delay(steady, attempt + 1, retry_safe=True, status=503)
    assert this is not None
    assert after is not None
    assert this <= after <= steady.max_delay


@pytest.mark.parametrize(
    ("failure", "retryable"),
    [
        pytest.param({"retry_safe": True, "status": 503}, True, id="5xx-safe"),
        pytest.param({"retry_safe": False, "status": 503}, False, id="5xx-unsafe"),
        pytest.param({"retry_safe": False, "status": 429}, True, id="429-unsafe"),
        pytest.param({"retry_safe": True, "status": 404}, False, id="404"),
        pytest.param({"retry_safe": True, "status": 200}, False, id="200"),
        pytest.param({"retry_safe": True}, False, id="nothing-failed"),
        pytest.param({"retry_safe": True, "transport_error": True}, True, id="network-safe"),
        pytest.param({"retry_safe": False, "transport_error": True}, False, id="network-unsafe"),
    ],
)
def test_what_is_worth_retrying(failure: dict[str, object], retryable: bool) -> None:
    assert is_retryable(**failure) is retryable  # type: ignore[arg-type]


def test_the_default_schedule() -> None:
    policy = RetryPolicy(max_attempts=10, jitter=0)
    delays = [next_delay(policy, n, retry_safe=True, status=500) for n in range(1, 10)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert next_delay(policy, 10, retry_safe=True, status=500) is None


def test_jitter_spreads_around_the_delay() -> None:
    policy = RetryPolicy(jitter=0.25)
    low = next_delay(policy, 1, retry_safe=True, status=500, random=lambda: 0.0)
    high = next_delay(policy, 1, retry_safe=True, status=500, random=lambda: 0.999999)
    assert low == 0.1875
    assert high == pytest.approx(0.3125)


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = RetryPolicy(max_attempts=10**6, multiplier=100, jitter=0)
    assert next_delay(policy, 10**5, retry_safe=True, status=500) == policy.max_delay
    zero = RetryPolicy(max_attempts=10**6, initial_delay=0, multiplier=100)
    assert next_delay(zero, 10**5, retry_safe=True, status=500) == 0.0


def test_none_means_one_attempt() -> None:
    assert RetryPolicy.none().max_attempts == 1
    assert next_delay(RetryPolicy.none(), 1, retry_safe=True, status=503) is None
    assert next_delay(RetryPolicy.none(), 1, retry_safe=True, status=429, retry_after=1) is None


def test_a_policy_is_a_frozen_value_with_a_readable_repr() -> None:
    policy = RetryPolicy()
    assert repr(policy) == (
        "RetryPolicy(max_attempts=3, initial_delay=0.25, max_delay=8.0, multiplier=2.0, "
        "jitter=0.25, max_retry_after=60.0)"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_attempts = 5  # type: ignore[misc]
    assert RetryPolicy() == policy


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        pytest.param({"max_attempts": 0}, "max_attempts must be an integer >= 1", id="zero"),
        pytest.param({"max_attempts": 2.5}, "max_attempts", id="fraction"),
        pytest.param({"max_attempts": True}, "max_attempts", id="bool"),
        pytest.param({"initial_delay": -1}, "initial_delay must be >= 0", id="neg"),
        pytest.param({"max_delay": float("inf")}, "max_delay must be a finite", id="inf"),
        pytest.param({"max_retry_after": float("nan")}, "max_retry_after", id="nan"),
        pytest.param({"max_delay": "8"}, "max_delay must be a finite number", id="text"),
        pytest.param({"multiplier": 0.5}, "multiplier must be >= 1", id="shrinking"),
        pytest.param({"multiplier": float("inf")}, "multiplier must be a finite", id="inf-mult"),
        pytest.param({"jitter": 2}, "jitter must be between 0 and 1", id="jitter"),
        pytest.param({"jitter": float("nan")}, "jitter must be a finite", id="nan-jitter"),
    ],
)
def test_bad_policies_fail_at_construction_saying_what_to_fix(
    bad: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        RetryPolicy(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "now", "seconds"),
    [
        pytest.param("12", None, 12.0, id="delta"),
        pytest.param(" 1.5 ", None, 1.5, id="fraction"),
        pytest.param("-3", None, 0.0, id="negative"),
        pytest.param("inf", None, None, id="infinite"),
        pytest.param("soon", 0.0, None, id="garbage"),
        pytest.param(None, None, None, id="absent"),
        pytest.param("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480.0, 10.0, id="date"),
        pytest.param("Wed, 21 Oct 2015 07:28:10 GMT", 1445412500.0, 0.0, id="past-date"),
        pytest.param("Wed, 21 Oct 2015 07:28:10 GMT", None, None, id="date-without-clock"),
    ],
)
def test_parse_retry_after(value: str | None, now: float | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now) == seconds


# --- Pinned for mutation testing (issue 14): what a user would notice changing. ---


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        pytest.param(408, False, id="408-request-timeout-is-a-4xx"),
        pytest.param(499, False, id="499"),
        pytest.param(500, True, id="500"),
        pytest.param(599, True, id="599-last-5xx"),
        pytest.param(600, False, id="600"),
        pytest.param(428, False, id="428"),
        pytest.param(430, False, id="430"),
    ],
)
def test_the_retryable_statuses_are_pinned(status: int, retryable: bool) -> None:
    assert is_retryable(retry_safe=True, status=status) is retryable
    expected = 0.25 if retryable else None
    assert next_delay(RetryPolicy(jitter=0), 1, retry_safe=True, status=status) == expected


def test_a_failure_that_names_neither_status_nor_transport_error_is_not_retried() -> None:
    assert next_delay(RetryPolicy(), 1, retry_safe=True) is None


def test_an_overflowing_backoff_from_zero_stays_zero() -> None:
    # 1e300 ** 2 overflows a float: a zero initial delay must still mean "no wait".
    zero = RetryPolicy(max_attempts=5, initial_delay=0, multiplier=1e300, jitter=0)
    assert next_delay(zero, 3, retry_safe=True, status=500) == 0.0
    grown = RetryPolicy(max_attempts=5, initial_delay=1, multiplier=1e300, jitter=0)
    assert next_delay(grown, 3, retry_safe=True, status=500) == grown.max_delay


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        pytest.param(
            {"max_attempts": 0},
            "RetryPolicy.max_attempts must be an integer >= 1 (1 = no retries), got 0",
            id="attempts",
        ),
        pytest.param(
            {"initial_delay": -1},
            "RetryPolicy.initial_delay must be >= 0 (seconds), got -1",
            id="initial",
        ),
        pytest.param(
            {"max_delay": float("nan")},
            "RetryPolicy.max_delay must be a finite number >= 0 (seconds), got nan",
            id="max-delay",
        ),
        pytest.param(
            {"max_retry_after": -2.5},
            "RetryPolicy.max_retry_after must be >= 0 (seconds), got -2.5",
            id="retry-after",
        ),
        pytest.param(
            {"multiplier": 0.5},
            "RetryPolicy.multiplier must be >= 1 (so that delays never shrink), got 0.5",
            id="multiplier",
        ),
        pytest.param(
            {"jitter": 1.5},
            "RetryPolicy.jitter must be between 0 and 1 (a fraction of the delay), got 1.5",
            id="jitter",
        ),
    ],
)
def test_a_refused_policy_says_exactly_which_field_and_why(
    bad: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        RetryPolicy(**bad)  # type: ignore[arg-type]
    assert str(refused.value) == message


@pytest.mark.parametrize(
    "edge",
    [
        pytest.param({"max_attempts": 1}, id="one-attempt"),
        pytest.param({"multiplier": 1}, id="steady"),
        pytest.param({"jitter": 1}, id="full-jitter"),
        pytest.param({"jitter": 0, "initial_delay": 0, "max_delay": 0}, id="zeros"),
        pytest.param({"max_retry_after": 0}, id="no-retry-after"),
    ],
)
def test_the_edges_of_each_limit_are_accepted(edge: dict[str, float]) -> None:
    assert dataclasses.asdict(RetryPolicy(**edge)).items() >= edge.items()  # type: ignore[arg-type]
