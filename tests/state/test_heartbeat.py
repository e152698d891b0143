"""`Heartbeat` and `AsyncHeartbeat`: renew on time, stop on a lost lease or past their
maximum age, never raise into their caller, never block an event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from mm_assistants.state.heartbeat import AsyncHeartbeat, Heartbeat, next_step, retry_step

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


# -- a maximum age: a hung run does not keep its lease forever ----------------------------


def test_next_step_gives_up_at_the_maximum_age() -> None:
    assert next_step(0.0, 1.0, None) == (1.0, False)
    assert next_step(1e9, 1.0, None) == (1.0, False)  # no maximum: renew forever
    assert next_step(0.0, 1.0, 10.0) == (1.0, False)
    assert next_step(8.5, 1.0, 10.0) == (1.0, False)
    assert next_step(9.5, 1.0, 10.0) == (0.5, True)  # the next renewal would be past it
    assert next_step(12.0, 1.0, 10.0) == (0.0, True)


def test_max_age_stops_renewals_and_sets_lost(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[float] = []
    expired: list[int] = []
    with caplog.at_level(logging.WARNING):
        beat = Heartbeat(
            lambda: calls.append(time.monotonic()) is None,
            every=0.02,
            max_age=0.15,
            on_expired=lambda: expired.append(1),
        )
        started = time.monotonic()
        with beat:
            assert beat.lost.wait(BOUND)
            lost_after = time.monotonic() - started
            count = len(calls)
            time.sleep(0.1)
            assert len(calls) == count  # no renewal after the maximum age
    assert 0.15 <= lost_after < 1.0
    assert count >= 2  # it renewed until then
    assert all(at - started < 0.15 for at in calls)
    assert expired == [1]
    assert "maximum age" in caplog.text


@pytest.mark.parametrize("max_age", [0, -1, True, "1", float("nan")])
def test_rejects_a_bad_maximum_age(max_age: object) -> None:
    with pytest.raises(ValueError, match="max_age"):
        Heartbeat(lambda: True, every=1.0, max_age=max_age)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_age"):
        AsyncHeartbeat(lambda: True, every=1.0, max_age=max_age)  # type: ignore[arg-type]


# -- AsyncHeartbeat ------------------------------------------------------------------------


async def _ticks_while(work: asyncio.Future[object] | asyncio.Task[object]) -> float:
    """The longest gap (seconds) between ticks of a 10 ms ticker while ``work`` runs."""
    loop = asyncio.get_running_loop()
    last, gap = loop.time(), 0.0
    while not work.done():
        await asyncio.sleep(0.01)
        now = loop.time()
        gap, last = max(gap, now - last), now
    return gap


async def test_async_renewals_run_off_the_loop() -> None:
    calls: list[int] = []

    def renew() -> bool:  # a store call that takes a while (a slow database)
        time.sleep(0.2)
        calls.append(1)
        return True

    # close_wait (2 x every) outlasts a renewal: closing keeps the lease
    async with AsyncHeartbeat(renew, every=0.15) as beat:
        done = asyncio.ensure_future(asyncio.sleep(0.6))
        gap = await asyncio.wait_for(_ticks_while(done), BOUND)
        assert beat.running
    assert len(calls) >= 2
    assert gap < 0.1  # the loop kept serving while each renewal slept 0.2 s
    assert not beat.lost.is_set()
    assert not beat.running


async def test_async_false_or_an_exception_sets_lost(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> bool:
        raise ConnectionError("postgresql://app:hunter2@db/prod unreachable")

    async with AsyncHeartbeat(lambda: False, every=0.01) as beat:
        await asyncio.wait_for(beat.lost.wait(), BOUND)
    async with AsyncHeartbeat(broken, every=0.01) as beat:
        await asyncio.wait_for(beat.lost.wait(), BOUND)
    assert "no longer ours" in caplog.text
    assert "ConnectionError" in caplog.text
    assert "hunter2" not in caplog.text


async def test_async_max_age_stops_renewals_and_sets_lost() -> None:
    calls: list[int] = []
    expired: list[int] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with AsyncHeartbeat(
        lambda: calls.append(1) is None,
        every=0.02,
        max_age=0.15,
        on_expired=lambda: expired.append(1),
    ) as beat:
        await asyncio.wait_for(beat.lost.wait(), BOUND)
        assert loop.time() - started >= 0.15
        count = len(calls)
        await asyncio.sleep(0.1)
        assert len(calls) == count
        assert not beat.running
    assert count >= 2
    assert expired == [1]


async def test_async_close_returns_in_bounded_time_when_a_renewal_hangs() -> None:
    renewing = threading.Event()
    release = threading.Event()

    def renew() -> bool:
        renewing.set()
        release.wait(BOUND)
        return True

    beat = AsyncHeartbeat(renew, every=0.05).start()
    try:
        assert await asyncio.to_thread(renewing.wait, BOUND)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(beat.aclose(), BOUND)
        assert loop.time() - started < 1.0  # close_wait is 2 x every here
        assert beat.lost.is_set()
        assert not beat.running
    finally:
        release.set()


async def test_async_no_renewal_before_the_first_interval_and_repr() -> None:
    calls: list[int] = []
    beat = AsyncHeartbeat(lambda: calls.append(1) is None, every=30.0)
    assert repr(beat) == "AsyncHeartbeat(every=30.0, stopped)"
    async with beat:
        assert "running" in repr(beat)
    assert calls == []


# -- a renewal that raises is retried until the lease really ran out (review 16, H2) -------


def test_retry_step_retries_until_the_lease_would_have_run_out() -> None:
    assert retry_step(1.0, 3.0, 9.0) == (1.0, False)  # a third of the interval
    assert retry_step(7.9, 3.0, 9.0) == (1.0, False)
    assert retry_step(8.0, 3.0, 9.0) == (0.0, True)  # the retry would fall at the lease's end
    assert retry_step(20.0, 3.0, 9.0) == (0.0, True)


def test_one_failed_renewal_is_retried_and_the_lease_is_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[float] = []
    enough = threading.Event()

    def renew() -> bool:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise ConnectionError("postgresql://app:hunter2@db/prod reset")
        if len(calls) >= 4:
            enough.set()
        return True

    with caplog.at_level(logging.WARNING), Heartbeat(renew, every=0.15) as beat:
        assert enough.wait(BOUND)
        assert not beat.lost.is_set()  # one blip: the claim is still ours
    assert calls[1] - calls[0] < 0.12  # retried sooner than the next interval
    assert "ConnectionError" in caplog.text
    assert "hunter2" not in caplog.text


def test_renewals_that_keep_raising_lose_the_lease_only_after_it_ran_out() -> None:
    calls: list[float] = []

    def renew() -> bool:
        calls.append(time.monotonic())
        raise OSError("down")

    started = time.monotonic()
    with Heartbeat(renew, every=0.1, lease=0.6) as beat:
        assert beat.lost.wait(BOUND)
        waited = time.monotonic() - started
    assert 0.45 <= waited < 0.6 + 0.5  # not at the first error (0.1 s): near the lease's end
    assert len(calls) >= 4  # retried meanwhile


async def test_async_one_failed_renewal_is_retried_and_the_lease_is_kept() -> None:
    calls: list[int] = []

    def renew() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("reset")
        return True

    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    async with AsyncHeartbeat(renew, every=0.05) as beat:
        while len(calls) < 4 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert not beat.lost.is_set()
    assert len(calls) >= 4


@pytest.mark.parametrize("lease", [0, -1.0, True])
def test_rejects_a_bad_lease(lease: object) -> None:
    with pytest.raises(ValueError, match="lease"):
        Heartbeat(lambda: True, every=1.0, lease=lease)  # type: ignore[arg-type]
