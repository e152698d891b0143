"""`AsyncInboundRouter` across a fleet: the same claims, parks and resumes as the blocking
router (tests/inbound/test_router_fleet.py), awaited; every store call off the event
loop, and a hung run's claim given up after ``max_run_seconds``."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.inbound import AsyncInboundRouter
from mm_assistants.state import MemoryRouteStore
from tests.inbound.fleet_fakes import (
    BACKENDS,
    AsyncDispatcher,
    AsyncDriver,
    email,
    make_store,
    mentions,
    outcome,
)

LEASE = 0.3


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return make_store(request.param, tmp_path, LEASE)


def worker(store: Any) -> AsyncInboundRouter:
    return AsyncInboundRouter(
        None, AsyncDispatcher(), model="gpt-test", driver=AsyncDriver(), store=store
    )


async def test_a_long_run_keeps_its_claim_and_the_mail_behind_it_queues(store: Any) -> None:
    router, other = worker(store), worker(store)
    seen: list[str] = []

    async def long_run() -> Any:
        await asyncio.sleep(LEASE * 2.5)  # well past one lease
        seen.append((await other.route(email(2))).action)
        seen.append(str(await other.drain()))
        return outcome("completed", "resp_a")

    router.driver.run_script.append(long_run)
    result = await asyncio.wait_for(router.route(email(1)), 10)
    assert seen == ["queued", "0"]  # the heartbeat kept the claim: no second run
    assert [o.status for o in result.outcomes] == ["completed", "completed"]
    assert mentions(router.driver.runs[1][0], 2)
    assert other.driver.runs == []
    assert store.token("thr_1") is None


async def test_a_parked_run_queues_mail_and_resumes_with_it(store: Any) -> None:
    router, other = worker(store), worker(store)
    router.driver.run_script.append(lambda: outcome("parked", "resp_held", checkpoint="ckpt_1"))
    result = await router.route(email(1))
    assert [o.status for o in result.outcomes] == ["parked"]
    assert store.parked("thr_1") == "ckpt_1"
    assert (await other.route(email(2))).action == "queued"
    assert await other.drain() == 0
    other.driver.resume_script.append(lambda: outcome("busy"))
    assert (await other.resume("thr_1")).action == "busy"
    assert store.parked("thr_1") == "ckpt_1"
    other.driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    resumed = await other.resume("thr_1")
    assert resumed.action == "resumed"
    assert [len(follow) for _, follow in other.driver.resumes] == [1, 1]
    assert mentions(other.driver.resumes[1][1], 2)
    assert store.target("thr_1") == "resp_done"
    assert store.token("thr_1") is None
    assert (await worker(store).route(email(3))).action == "started"


async def test_a_gone_resume_runs_the_queued_mail(store: Any) -> None:
    router = worker(store)
    router.driver.run_script.append(lambda: outcome("parked", "resp_held", checkpoint="ckpt_1"))
    await router.route(email(1))
    await worker(store).route(email(2))
    router.driver.resume_script.append(lambda: outcome("gone"))
    result = await router.resume("ckpt_1")  # no checkpoint meta: the id is not a thread
    assert result.action == "not_parked"
    result = await router.resume("thr_1")
    assert result.action == "gone"
    assert mentions(router.driver.runs[-1][0], 2)
    assert store.parked("thr_1") is None


# -- off the event loop (review 1, finding 7) -----------------------------------------------


class SlowStore:
    """A route store whose every call blocks 0.2 s (a cold pool, a slow database)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lease = inner.lease

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.2)
            return method(*args, **kwargs)

        return slow


async def _longest_gap(work: asyncio.Task[Any]) -> float:
    """The longest gap (seconds) between ticks of a 10 ms ticker while ``work`` runs."""
    loop = asyncio.get_running_loop()
    last, gap = loop.time(), 0.0
    while not work.done():
        await asyncio.sleep(0.01)
        now = loop.time()
        gap, last = max(gap, now - last), now
    return gap


async def test_a_slow_store_never_blocks_the_event_loop() -> None:
    store = SlowStore(MemoryRouteStore(lease=LEASE))
    router = worker(store)
    route = asyncio.ensure_future(router.route(email(1)))
    gap = await asyncio.wait_for(_longest_gap(route), 30)
    assert [o.status for o in route.result().outcomes] == ["completed"]
    assert gap < 0.15  # every store call slept 0.2 s, none of them on the loop
    assert store.inner.token("thr_1") is None  # the run finished its claim


async def test_concurrent_runs_keep_no_thread_each() -> None:
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(4, thread_name_prefix="test-to-thread")
    loop.set_default_executor(executor)  # to_thread's threads: a fixed, known number
    store = MemoryRouteStore(lease=LEASE)
    router = worker(store)
    for _ in range(20):

        async def long_run() -> Any:
            await asyncio.sleep(LEASE * 2)  # long enough for several renewals each
            return outcome("completed")

        router.driver.run_script.append(long_run)
    baseline = threading.active_count()
    runs = asyncio.ensure_future(
        asyncio.gather(*(router.route(email(n, thread=f"thr_{n}")) for n in range(20)))
    )
    peak = baseline
    while not runs.done():
        peak = max(peak, threading.active_count())
        await asyncio.sleep(0.01)
    results = await asyncio.wait_for(runs, 10)
    assert [r.action for r in results] == ["started"] * 20
    assert all(store.token(f"thr_{n}") is None for n in range(20))  # claims kept, then ended
    assert peak <= baseline + 4  # the executor's threads at most, not one per run


# -- a hung run gives its claim up (review 1, finding 8) ------------------------------------


async def test_a_hung_run_loses_the_thread_and_its_late_writes_change_nothing(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hung = AsyncInboundRouter(
        None,
        AsyncDispatcher(),
        model="gpt-test",
        driver=AsyncDriver(),
        store=store,
        max_run_seconds=LEASE,
    )
    other = worker(store)
    release = asyncio.Event()

    async def never_returns() -> Any:  # a deadlocked tool: until the test lets it go
        await asyncio.wait_for(release.wait(), 10)
        return outcome("completed", "resp_stale")

    hung.driver.run_script.append(never_returns)
    with caplog.at_level(logging.WARNING):
        stuck = asyncio.ensure_future(hung.route(email(1)))
        await asyncio.sleep(0.05)
        assert (await other.route(email(2))).action == "queued"  # the claim is held
        loop = asyncio.get_running_loop()
        until = loop.time() + 5
        while await other.drain() == 0:  # the claim lapses past max_run + one lease
            assert loop.time() < until, "the hung run kept its claim"
            await asyncio.sleep(0.05)
        assert mentions(other.driver.runs[0][0], 2)  # the queued mail ran elsewhere
        assert store.target("thr_1") == "resp_run_1"
        release.set()
        result = await asyncio.wait_for(stuck, 10)
    assert [o.status for o in result.outcomes] == ["completed"]
    assert store.target("thr_1") == "resp_run_1"  # the stale run's target was refused
    assert store.token("thr_1") is None
    assert (await other.route(email(3))).action == "started"  # nothing left claimed
    assert "inbound thread thr_1: the run passed max_run_seconds" in caplog.text
    assert "em_1" not in caplog.text  # the thread id only
