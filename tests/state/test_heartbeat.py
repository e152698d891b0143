"""`Heartbeat`: renews on time, stops on a lost lease, never raises into its caller."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from mm_assistants.state.heartbeat import Heartbeat

BOUND = 5.0  # no wait in this file lasts longer


def test_renews_every_interval_until_closed() -> None:
    calls: list[float] = []
    enough = threading.Event()

    def renew() -> bool:
        calls.append(time.monotonic())
        if len(calls) >= 3:
            enough.set()
        return True

    with Heartbeat(renew, every=0.02) as beat:
        assert enough.wait(BOUND)
        assert beat.running
    assert not beat.running
    count = len(calls)
    time.sleep(0.1)
    assert len(calls) == count  # closed: no renewal after close returned
    assert not beat.lost.is_set()


def test_no_renewal_before_the_first_interval() -> None:
    calls: list[int] = []
    with Heartbeat(lambda: calls.append(1) is None, every=30.0):
        pass
    assert calls == []  # the lease was just taken; close does not wait out the interval


def test_false_sets_lost_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def renew() -> bool:
        calls.append(1)
        return False

    with caplog.at_level(logging.WARNING), Heartbeat(renew, every=0.01) as beat:
        assert beat.lost.wait(BOUND)
        time.sleep(0.05)
        assert not beat.running
    assert calls == [1]
    assert "no longer ours" in caplog.text


def test_an_exception_is_a_lost_lease_without_its_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def renew() -> bool:
        raise ConnectionError("postgresql://app:hunter2@db/prod unreachable")

    with caplog.at_level(logging.WARNING), Heartbeat(renew, every=0.01) as beat:
        assert beat.lost.wait(BOUND)  # nothing raised here
    assert "ConnectionError" in caplog.text
    assert "hunter2" not in caplog.text
    assert "postgresql://" not in caplog.text


@pytest.mark.parametrize("every", [0, -1, True, "1", float("nan")])
def test_rejects_a_bad_interval(every: object) -> None:
    with pytest.raises(ValueError, match="every"):
        Heartbeat(lambda: True, every=every)  # type: ignore[arg-type]


def test_repr_and_double_start() -> None:
    beat = Heartbeat(lambda: True, every=10.0)
    assert repr(beat) == "Heartbeat(every=10.0, stopped)"
    beat.start()
    first = beat._thread
    beat.start()
    assert beat._thread is first
    assert "running" in repr(beat)
    beat.close()


def test_close_returns_in_bounded_time_when_a_renewal_hangs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    renewing = threading.Event()
    release = threading.Event()

    def renew() -> bool:  # a store call on a connection that died silently
        renewing.set()
        release.wait(60)
        return True

    beat = Heartbeat(renew, every=0.05).start()
    closer = threading.Thread(target=beat.close, daemon=True)
    try:
        assert renewing.wait(BOUND)
        started = time.monotonic()
        closer.start()
        closer.join(BOUND)
        assert not closer.is_alive(), "close() waited for a renewal that never ends"
        assert time.monotonic() - started < 1.0  # close_wait is 2 x every here
        assert beat.lost.is_set()  # nobody knows whether that renewal kept the lease
        assert "did not finish" in caplog.text
    finally:
        release.set()
    beat._thread.join(BOUND)  # type: ignore[union-attr]  # the daemon ends once unstuck
    assert not beat.running


def test_close_waits_at_most_max_close_wait_however_long_the_interval() -> None:
    assert Heartbeat(lambda: True, every=600.0).close_wait == 5.0
    assert Heartbeat(lambda: True, every=0.5).close_wait == 1.0
