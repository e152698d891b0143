"""The pure retry decisions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm_assistants.multimail import RetryPolicy
from mm_assistants.multimail.errors import error_from_response
from mm_assistants.multimail.retries import next_delay, parse_retry_after


@given(
    attempt=st.integers(min_value=1, max_value=20),
    status=st.one_of(st.none(), st.integers(min_value=100, max_value=599)),
    transport=st.booleans(),
    safe=st.booleans(),
    noise=st.floats(min_value=0, max_value=1),
)
def test_delays_are_bounded_and_only_for_retryable_cases(
    attempt: int, status: int | None, transport: bool, safe: bool, noise: float
) -> None:
    policy = RetryPolicy(max_attempts=5)
    delay = next_delay(
        policy,
        attempt,
        retry_safe=safe,
        status=status,
        transport_error=transport,
        random=lambda: noise,
    )
    if delay is None:
        return
    assert 0 <= delay <= policy.max_delay * (1 + policy.jitter)
    assert attempt < policy.max_attempts
    if transport:
        assert safe
    else:
        assert status is not None
        assert status == 429 or (status >= 500 and safe)


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0


@pytest.mark.parametrize(
    "bad",
    [
        {"max_attempts": 0},
        {"initial_delay": -1},
        {"multiplier": 0.5},
        {"jitter": 2},
        {"max_delay": float("inf")},
    ],
)
def test_bad_policies_fail_at_construction(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**bad)  # type: ignore[arg-type]


def test_none_means_one_attempt() -> None:
    assert next_delay(RetryPolicy.none(), 1, retry_safe=True, status=503) is None


def test_error_bodies_of_other_shapes() -> None:
    nested = error_from_response(400, {"error": {"message": "bad"}}, method="GET", path="/p")
    assert nested.error == "bad"
    text = error_from_response(502, "upstream", method="GET", path="/p")
    assert (type(text).__name__, text.error) == ("ServerError", "upstream")
    empty = error_from_response(404, None, method="GET", path="/p")
    assert str(empty) == "GET /p -> 404"
