"""`AsyncInboundRouter` across a fleet: the same claims, parks and resumes as the blocking
router (tests/inbound/test_router_fleet.py), awaited."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.inbound import AsyncInboundRouter
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
