"""Backoff (issue 16, item 3): work whose last attempt raised is not due again at once. The
wait lives in the stores' ``next_attempt_at``, which the fleet's sweep reads; a doorbell that
rings early (new mail, a redelivered task) is answered ``busy``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.drivers import RunOutcome
from mm_assistants.inbound import InboundRouter
from mm_assistants.inbound.work import BACKING_OFF, FleetWork, SweepPlan
from mm_assistants.state import (
    Checkpoint,
    MemoryDecisionStore,
    MemoryPendingStore,
    PendingRecord,
)
from mm_assistants.state import backoff as backoff_module
from mm_assistants.state.backoff import BACKOFF_BASE, BACKOFF_CAP, retry_delay
from tests.inbound.fleet_fakes import Dispatcher, Driver, email, make_store, mentions, outcome

BASE = 0.3  # the tests' backoff base: attempt 1 waits 0.3 s, attempt 2 waits 0.6 s
PAST_IT = 0.45  # longer than BASE, shorter than 2 * BASE


# -- the rule (pure) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "wait"),
    [
        (-3, 0.0),
        (0, 0.0),
        (1, 5.0),
        (2, 10.0),
        (3, 20.0),
        (4, 40.0),
        (6, 160.0),
        (7, 300.0),  # 320 capped
        (8, 300.0),
        (10**6, 300.0),  # no overflow, however many
    ],
)
def test_attempt_n_waits_base_times_two_to_the_n_minus_1_at_most_the_cap(
    attempts: int, wait: float
) -> None:
    assert retry_delay(attempts) == wait


def test_the_defaults_and_explicit_base_and_cap() -> None:
    assert (BACKOFF_BASE, BACKOFF_CAP) == (5.0, 300.0)
    assert retry_delay(3, base=1.0, cap=3.5) == 3.5
    assert retry_delay(2, base=1.0, cap=3.5) == 2.0
    assert retry_delay(1, base=0.5) == 0.5


def test_a_checkpoint_is_due_without_a_backoff_or_once_it_ran_out() -> None:
    plain = Checkpoint("cp", b"{}", 1, 0.0)
    assert plain.due(0.0)
    deferred = Checkpoint("cp", b"{}", 1, 0.0, next_attempt_at=100.0)
    assert not deferred.due(99.9)
    assert deferred.due(100.0)
    assert deferred.due(100.1)


# -- FleetWork: a thread whose run raises --------------------------------------------------


@pytest.fixture
def short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backoff_module, "BACKOFF_BASE", BASE)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def routes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "postgres":
        from mm_assistants.state.postgres import PostgresRouteStore

        store: Any = PostgresRouteStore(request.getfixturevalue("pg_dsn"), lease=30.0)
    else:
        store = make_store(request.param, tmp_path, lease=30.0)
    try:
        yield store
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()


def fleet(routes: Any, driver: Driver) -> FleetWork:
    router = InboundRouter(None, Dispatcher(), model="gpt-test", driver=driver, store=routes)
    return FleetWork(
        router,
        pending=MemoryPendingStore(),
        checkpoints=driver.parking.store,
        decisions=MemoryDecisionStore(),
    )


def crash() -> RunOutcome:
    raise RuntimeError("the model's side failed")


@pytest.mark.usefixtures("short_backoff")
def test_a_thread_whose_run_raises_is_not_swept_before_its_backoff_then_is(routes: Any) -> None:
    driver = Driver()
    driver.run_script.append(crash)
    work = fleet(routes, driver)
    work.admit(email(1))
    work.admit(email(9, thread="thr_other"))
    with pytest.raises(RuntimeError):
        work.route_inbound("thr_1")
    assert 0 < routes.backing_off("thr_1") <= BASE
    assert work.sweep().threads == ["thr_other"]
    # new mail rings the bell early: it waits out the backoff too, and no run starts
    assert work.admit(email(2)).mm_thread == "thr_1"
    early = work.route_inbound("thr_1")
    assert (early.action, early.reason) == ("busy", BACKING_OFF)
    assert len(driver.runs) == 1
    assert work.sweep().threads == ["thr_other"]
    time.sleep(PAST_IT)
    assert work.sweep().threads == ["thr_other", "thr_1"]
    driver.run_script.append(crash)  # it raises again: the next wait doubles
    with pytest.raises(RuntimeError):
        work.route_inbound("thr_1")
    assert BASE < routes.backing_off("thr_1") <= 2 * BASE
    time.sleep(PAST_IT)
    assert "thr_1" not in work.sweep().threads
    time.sleep(2 * BASE - PAST_IT + 0.1)
    assert "thr_1" in work.sweep().threads
    ran = work.route_inbound("thr_1")  # the model is back: both emails, once
    assert ran.action == "started"
    assert len(driver.runs) == 3
    items = driver.runs[-1][0]
    assert mentions(items, 1)
    assert mentions(items, 2)
    assert routes.backing_off("thr_1") == 0.0
    assert routes.attempts("thr_1") == 0  # the finish reset the count


def test_without_a_patch_the_first_backoff_is_five_seconds(routes: Any) -> None:
    driver = Driver()
    driver.run_script.append(crash)
    work = fleet(routes, driver)
    work.admit(email(1))
    with pytest.raises(RuntimeError):
        work.route_inbound("thr_1")
    assert 4.0 < routes.backing_off("thr_1") <= 5.0
    assert work.sweep().threads == []


# -- FleetWork: a resume that raises -------------------------------------------------------


def parked(driver: Driver, work: FleetWork) -> None:
    """thr_1's run parked as ckpt_1 (the fake driver's own checkpoint format)."""
    driver.run_script.append(lambda: outcome("parked", "resp_held", checkpoint="ckpt_1"))
    work.admit(email(1))
    assert [o.status for o in work.route_inbound("thr_1").outcomes] == ["parked"]
    driver.parking.add("ckpt_1", {"mm_thread": "thr_1"})


def lapses_then_raises(driver: Driver) -> RunOutcome:
    """A resume that dies with its checkpoint claimed: the claim lapses (as the real
    driver's `Lease.lapse` does), then the error goes up."""
    store = driver.parking.store
    claim = store.claim("ckpt_1", until=time.time() + 60)
    assert claim is not None
    assert store.renew("ckpt_1", claim.token, until=time.time())
    raise RuntimeError("the resume failed")


@pytest.mark.usefixtures("short_backoff")
def test_a_resume_that_raises_is_not_swept_before_its_backoff_then_is(tmp_path: Path) -> None:
    driver = Driver()
    work = fleet(make_store("memory", tmp_path, lease=30.0), driver)
    parked(driver, work)
    assert work.store.parked("thr_1") == "ckpt_1"
    driver.resume_script.append(lambda: lapses_then_raises(driver))
    with pytest.raises(RuntimeError):
        work.resume_run("ckpt_1")
    checkpoint = driver.parking.store.get("ckpt_1")
    assert checkpoint is not None
    assert checkpoint.next_attempt_at is not None
    assert 0 < checkpoint.next_attempt_at - time.time() <= BASE
    assert work.sweep().checkpoints == []  # lapsed, but not due
    early = work.resume_run("ckpt_1")  # a redelivered task, or a decision's bell
    assert (early.action, early.reason) == ("busy", BACKING_OFF)
    assert len(driver.resumes) == 1
    time.sleep(PAST_IT)
    assert work.sweep().checkpoints == ["ckpt_1"]
    driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    assert work.resume_run("ckpt_1").action == "resumed"
    assert len(driver.resumes) == 2
    assert work.store.parked("thr_1") is None  # the thread is free again


@pytest.mark.usefixtures("short_backoff")
def test_a_decided_park_whose_resume_raised_is_not_listed_before_its_backoff(
    tmp_path: Path,
) -> None:
    driver = Driver()
    work = fleet(make_store("memory", tmp_path, lease=30.0), driver)
    parked(driver, work)
    held = PendingRecord("em_held", "mbx_1", "call_1", "send_email", checkpoint_id="ckpt_1")
    work.pending.add(held)
    work.decisions.record("em_held", {"status": "approved"})
    assert work.sweep().checkpoints == ["ckpt_1"]  # decided: listed for its resume
    driver.resume_script.append(crash)  # raises with no claim held: only the decision lists it
    with pytest.raises(RuntimeError):
        work.resume_run("ckpt_1")
    assert work.sweep().checkpoints == []
    time.sleep(PAST_IT)
    assert work.sweep().checkpoints == ["ckpt_1"]


@pytest.mark.usefixtures("short_backoff")
def test_a_run_that_raised_mid_dispatch_is_re_attached_after_its_backoff(tmp_path: Path) -> None:
    driver = Driver()
    work = fleet(make_store("memory", tmp_path, lease=30.0), driver)

    def dies_mid_dispatch() -> RunOutcome:
        driver.parking.add("ckpt_1", {"mm_thread": "thr_1"})  # a tool call was in flight
        return lapses_then_raises(driver)

    driver.run_script.append(dies_mid_dispatch)
    work.admit(email(1))
    with pytest.raises(RuntimeError):
        work.route_inbound("thr_1")
    assert work.sweep() == SweepPlan()  # neither the mail nor the run, before the backoff
    early = work.resume_run("ckpt_1")  # re-attaching is backing off too
    assert (early.action, early.reason) == ("busy", BACKING_OFF)
    assert work.route_inbound("thr_1").action == "busy"  # the thread waits on its run
    assert driver.resumes == []
    time.sleep(PAST_IT)
    assert work.sweep().checkpoints == ["ckpt_1"]
    driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    assert work.resume_run("ckpt_1").action == "resumed"
    assert [checkpoint for checkpoint, _ in driver.resumes] == ["ckpt_1"]
    assert len(driver.runs) == 1  # re-attached, never run again from the mail
