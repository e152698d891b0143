"""Review findings on the router's claims (issue 15, review 1): the token comes with the
claim (a worker paused right after claiming never adopts the next owner's claim), a resume
that raises leaves the thread parked (no run beside its checkpoint), and a worker that lost
its thread cannot move the new owner's conversation. Memory, SQLite and PostgreSQL stores
(the async router on memory and SQLite); two routers on one store stand for two workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.inbound import AsyncInboundRouter, InboundRouter
from mm_assistants.state import InboundMessage, RouteStore
from tests.inbound.fleet_fakes import (
    BACKENDS,
    AsyncDispatcher,
    AsyncDriver,
    Dispatcher,
    Driver,
    email,
    make_store,
    mentions,
    outcome,
    stores_of,
    waits,
)

LEASE = 0.3


@pytest.fixture(params=[*BACKENDS, "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from stores_of(request, tmp_path, LEASE)


def worker(store: Any, driver: Driver | None = None) -> InboundRouter:
    return InboundRouter(
        None, Dispatcher(), model="gpt-test", driver=driver or Driver(), store=store
    )


def async_worker(store: Any) -> AsyncInboundRouter:
    return AsyncInboundRouter(
        None, AsyncDispatcher(), model="gpt-test", driver=AsyncDriver(), store=store
    )


class PausedAfterClaim:
    """A worker's view of the store that stalls right after it claims a thread (GC, a
    stolen CPU, a slow pool checkout): ``meanwhile`` runs before the claim is handed back."""

    def __init__(self, inner: RouteStore, meanwhile: Callable[[], None]) -> None:
        self.inner = inner
        self.lease = LEASE
        self.meanwhile = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def admit(self, key: str, mm_thread: str, message: InboundMessage) -> Any:
        admission = self.inner.admit(key, mm_thread, message)
        if admission == "claimed":
            self.meanwhile()
        return admission

    def claim(self, mm_thread: str) -> Any:
        taken = self.inner.claim(mm_thread)
        if taken is not None:
            self.meanwhile()
        return taken


class FrozenBeat:
    """A stalled worker: its renewals never reach the store and it believes them made."""

    def __init__(self, inner: RouteStore) -> None:
        self.inner = inner
        self.lease = LEASE

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def heartbeat(self, mm_thread: str, token: int) -> bool:
        return True


@pytest.mark.parametrize("start", ["route", "drain"])
def test_a_worker_paused_right_after_its_claim_never_adopts_the_next_owners_claim(
    store: Any, start: str
) -> None:
    gate, started = threading.Event(), threading.Event()
    owner_driver = Driver()
    owner_driver.run_script.append(waits(gate, outcome("completed", "resp_owner"), started))
    owner = worker(store, owner_driver)
    runners: list[threading.Thread] = []

    def meanwhile() -> None:
        time.sleep(LEASE * 1.5)  # the paused worker's claim lapses; the owner takes the thread
        runner = threading.Thread(target=owner.route, args=(email(2),))
        runner.start()
        runners.append(runner)
        assert started.wait(10)

    paused = worker(PausedAfterClaim(store, meanwhile))
    if start == "drain":
        store.admit("k0", "thr_1", InboundMessage("em_1", "email_id: em_1\n"))
        store.release("thr_1", [InboundMessage("em_1", "email_id: em_1\n")])
        assert store.stalled() == ["thr_1"]  # em_1 waits with no claim
    try:
        if start == "route":
            result = paused.route(email(1))
            assert (result.action, result.outcomes) == ("started", ())
        else:
            assert paused.drain() == 1
    finally:
        gate.set()
        for runner in runners:
            runner.join(10)
    assert paused.driver.runs == []  # no run beside the owner's, under the owner's token
    # the owner ran its mail, then the mail the paused worker gave back, on its own claim
    assert [mentions(items, 2) for items, _ in owner_driver.runs] == [True, False]
    assert mentions(owner_driver.runs[1][0], 1)
    assert store.token("thr_1") is None
    assert store.target("thr_1") == "resp_run_2"


def parked_with_mail(store: Any) -> None:
    """thr_1 parked as ckpt_1, with em_2 queued behind it."""
    driver = Driver()
    driver.run_script.append(lambda: outcome("parked", "resp_held", checkpoint="ckpt_1"))
    assert worker(store, driver).route(email(1)).action == "started"
    assert worker(store).route(email(2)).action == "queued"


def crash() -> Any:
    raise RuntimeError("the OpenAI request failed")


def test_a_resume_that_raises_leaves_the_thread_parked_with_its_mail_in_order(
    store: Any,
) -> None:
    parked_with_mail(store)
    resumer = worker(store)
    other = worker(store)

    def crash_after_more_mail() -> Any:
        assert other.route(email(3)).action == "queued"  # arrives during the resume
        raise RuntimeError("the OpenAI request failed")

    resumer.driver.resume_script.append(crash_after_more_mail)
    with pytest.raises(RuntimeError):
        resumer.resume("thr_1")
    assert store.parked("thr_1") == "ckpt_1"
    assert store.stalled() == []
    time.sleep(LEASE * 1.5)  # a parked claim has no lease to lapse
    assert other.drain() == 0  # no fresh run beside the parked checkpoint
    assert other.driver.runs == []
    assert resumer.driver.runs == []
    assert other.route(email(4)).action == "queued"
    again = worker(store)
    again.driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    assert again.resume("thr_1").action == "resumed"
    [(checkpoint, follow_with)] = again.driver.resumes
    assert checkpoint == "ckpt_1"
    assert [n for n in (2, 3, 4) for item in follow_with if mentions([item], n)] == [2, 3, 4]
    assert store.parked("thr_1") is None
    assert store.target("thr_1") == "resp_done"


def test_a_resume_that_raises_after_losing_its_claim_leaves_the_thread_to_its_owner(
    store: Any,
) -> None:
    parked_with_mail(store)
    resumer = worker(FrozenBeat(store))
    owner = worker(store)

    def lose_then_crash() -> Any:
        time.sleep(LEASE * 1.5)  # the resumer stalled: its live claim lapses
        assert owner.drain() == 0  # nothing is queued: em_2 went with the resume
        assert owner.route(email(3)).action == "started"  # the owner claims the thread
        raise RuntimeError("the OpenAI request failed")

    resumer.driver.resume_script.append(lose_then_crash)
    with pytest.raises(RuntimeError):
        resumer.resume("thr_1")
    assert store.parked("thr_1") is None  # the stale resumer cannot park the owner's thread
    assert store.stalled() == ["thr_1"]  # em_2 went back; the owner's run had ended
    assert owner.drain() == 1
    assert mentions(owner.driver.runs[-1][0], 2)


def test_a_worker_that_lost_its_thread_does_not_move_the_new_owners_chain(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    gate, started = threading.Event(), threading.Event()
    stale_driver = Driver()
    stale_driver.run_script.append(waits(gate, outcome("completed", "resp_stale"), started))
    stale = worker(FrozenBeat(store), stale_driver)  # it believes every renewal worked
    owner = worker(store)
    runner = threading.Thread(target=stale.route, args=(email(1),))
    runner.start()
    try:
        assert started.wait(10)
        time.sleep(LEASE * 1.5)
        assert owner.route(email(2)).action == "started"  # took the thread over
        assert store.target("thr_1") == "resp_run_1"
    finally:
        gate.set()
        runner.join(10)
    assert store.target("thr_1") == "resp_run_1"  # not resp_stale
    assert any("claim was lost" in r.getMessage() for r in caplog.records)


@pytest.fixture(params=BACKENDS)
def local_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return make_store(request.param, tmp_path, LEASE)


async def test_an_async_resume_that_raises_leaves_the_thread_parked(local_store: Any) -> None:
    store = local_store
    router = async_worker(store)
    router.driver.run_script.append(lambda: outcome("parked", "resp_held", checkpoint="ckpt_1"))
    await router.route(email(1))
    assert (await async_worker(store).route(email(2))).action == "queued"
    router.driver.resume_script.append(crash)
    with pytest.raises(RuntimeError):
        await router.resume("thr_1")
    assert store.parked("thr_1") == "ckpt_1"
    other = async_worker(store)
    assert await other.drain() == 0
    assert other.driver.runs == []
    other.driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    assert (await other.resume("thr_1")).action == "resumed"
    assert mentions(other.driver.resumes[0][1], 2)


async def test_the_async_router_runs_on_the_token_its_claim_came_with(local_store: Any) -> None:
    store = local_store
    owner = async_worker(store)

    def meanwhile() -> None:
        time.sleep(LEASE * 1.5)
        taken = store.admit("k_owner", "thr_1", InboundMessage("em_9", "email_id: em_9\n"))
        assert taken == "claimed"  # another worker owns the thread now

    paused = AsyncInboundRouter(
        None,
        AsyncDispatcher(),
        model="gpt-test",
        driver=AsyncDriver(),
        store=PausedAfterClaim(store, meanwhile),
    )
    result = await paused.route(email(1))
    assert (result.action, result.outcomes) == ("started", ())
    assert paused.driver.runs == []
    assert store.parked("thr_1") is None
    assert [m.email_id for m in store.finish("thr_1", token=store.token("thr_1"))] == ["em_1"]
    assert owner.driver.runs == []
