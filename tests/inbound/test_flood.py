"""The flood limits' pure parts: the token bucket, the gate over senders and threads, the
queue bound (issue 11, item 12)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm_assistants.inbound import InboundLimits, RateLimit
from mm_assistants.inbound.flood import Bucket, FloodGate, queue_full, take


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_bucket_lets_a_burst_through_then_refills_at_its_rate() -> None:
    limit = RateLimit(3, 60.0)  # one token every 20 s
    bucket = None
    for _ in range(3):
        fits, bucket = take(bucket, limit, 0.0)
        assert fits
    fits, bucket = take(bucket, limit, 19.0)
    assert not fits
    fits, bucket = take(bucket, limit, 20.0)
    assert fits
    fits, _ = take(Bucket(0.0, 0.0), limit, 10_000.0)  # refills to the burst, no more
    assert fits


def test_a_clock_that_goes_back_refills_nothing() -> None:
    fits, bucket = take(Bucket(0.0, 100.0), RateLimit(1, 10.0), 50.0)
    assert not fits
    assert bucket.tokens == 0.0


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 20),
    st.floats(1.0, 1e5),
    st.lists(st.floats(0.0, 1e4), min_size=1, max_size=60),
)
def test_a_bucket_never_admits_more_than_burst_plus_refill(
    burst: int, period: float, gaps: list[float]
) -> None:
    limit, bucket, now, admitted = RateLimit(burst, period), None, 0.0, 0
    for gap in gaps:
        now += gap
        fits, bucket = take(bucket, limit, now)
        admitted += fits
    assert admitted <= burst + now * burst / period + 1e-9


def test_the_gate_limits_each_sender_and_each_thread() -> None:
    clock = Clock()
    gate = FloodGate(
        InboundLimits(per_sender=RateLimit(2, 60.0), per_thread=RateLimit(3, 60.0)),
        clock=clock,
    )
    assert gate.admit("Ana@Example.com", "thr_1") is None
    assert gate.admit("ana@example.com ", "thr_2") is None
    reason = gate.admit("ana@example.com", "thr_3")
    assert reason == "more mail from one sender than its limit (2 per 60 s)"
    assert gate.admit("bo@example.com", "thr_1") is None
    assert gate.admit("cy@example.com", "thr_1") is None
    assert gate.admit("di@example.com", "thr_1") == (
        "more mail from one thread than its limit (3 per 60 s)"
    )
    # a refusal spends nothing: di's own budget is intact elsewhere
    assert gate.admit("di@example.com", "thr_9") is None
    clock.now = 30.0  # one token back for ana
    assert gate.admit("ana@example.com", "thr_4") is None


def test_limits_can_be_turned_off_and_memory_is_bounded() -> None:
    gate = FloodGate(InboundLimits(per_sender=None, per_thread=None))
    assert all(gate.admit("ana@example.com", "thr_1") is None for _ in range(100))
    small = FloodGate(InboundLimits(per_sender=RateLimit(1, 60.0), max_tracked=4))
    for index in range(10):
        assert small.admit(f"s{index}@example.com", None) is None
    assert "tracked=4" in repr(small)


def test_the_queue_bound() -> None:
    limits = InboundLimits(max_pending=2)
    assert queue_full(1, limits) is None
    assert queue_full(2, limits) == "the inbound queue is full (2 runs waiting or running)"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        pytest.param(lambda: RateLimit(0, 60.0), "burst", id="burst-zero"),
        pytest.param(lambda: RateLimit(1, 0.0), "period", id="period-zero"),
        pytest.param(lambda: RateLimit(1, float("inf")), "period", id="period-inf"),
        pytest.param(lambda: InboundLimits(max_pending=0), "max_pending", id="pending-zero"),
        pytest.param(lambda: InboundLimits(max_tracked=0), "max_tracked", id="tracked-zero"),
    ],
)
def test_nonsense_limits_fail_at_construction(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_plus_tags_do_not_make_new_senders() -> None:
    gate = FloodGate(InboundLimits(per_sender=RateLimit(2, 3600.0), per_thread=None))
    admitted = [gate.admit(f"Eve+{n}@Evil.example", f"thr_{n}") for n in range(5)]
    assert admitted[:2] == [None, None]
    assert admitted[2:] == ["more mail from one sender than its limit (2 per 3600 s)"] * 3


def test_new_addresses_on_one_domain_are_bounded_overall() -> None:
    # whoever owns a domain can write from a new address and a new thread each time: the
    # overall bucket still bounds how many runs that starts
    gate = FloodGate(InboundLimits(overall=RateLimit(10, 3600.0), max_tracked=4))
    admitted = [gate.admit(f"e{n}@evil.example", f"thr_{n}") for n in range(1000)]
    assert admitted.count(None) == 10
    assert admitted[-1] == "more mail from all senders together than its limit (10 per 3600 s)"


def test_a_domain_limit_can_be_asked_for() -> None:
    gate = FloodGate(InboundLimits(per_domain=RateLimit(3, 3600.0), overall=None))
    admitted = [gate.admit(f"e{n}@evil.example", f"thr_{n}") for n in range(5)]
    assert admitted.count(None) == 3
    assert gate.admit("ana@other.example", "thr_x") is None


def test_the_default_limits_bound_a_flood_of_fresh_senders() -> None:
    gate = FloodGate(InboundLimits())
    admitted = [gate.admit(f"e{n}@evil.example", f"thr_{n}") for n in range(5000)]
    assert admitted.count(None) == 600
