"""The work a task drives must fit the tasks' clocks (review 16 H6): `install` checks each
process's work when it is built and warns, naming the value to set, for a route store whose
lease is not the tasks', a checkpoint lease that would not lapse before the thread's claim,
a park_after that leaves the model turns no time before the soft limit, and a driver that
cannot park (Assistants). A broker setting that kills runs on a Redis blip warns too."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery

from mm_assistants.celery import FleetConfigWarning, ProcessWork, install, task_times
from mm_assistants.celery.config import WorkClocks, clocks_of, work_problems
from tests.celery.test_install import FakeWork, dead_broker_app

TIMES = task_times(lease=60, beat_every=30)  # soft 45 s, hard 50 s


def fleet_work(*, route_lease: float, checkpoint_lease: float, park_after: float | None) -> Any:
    """A FleetWork's shape: work.store.lease, work.router.driver.parking."""
    policy = SimpleNamespace(park_after=park_after)
    parking = SimpleNamespace(lease_seconds=checkpoint_lease, policy=policy,
                              parks=park_after is not None)  # fmt: skip
    store = SimpleNamespace(lease=route_lease)
    return SimpleNamespace(store=store, router=SimpleNamespace(store=store,
                           driver=SimpleNamespace(parking=parking)))  # fmt: skip


def test_work_that_nests_fits_and_each_misfit_names_the_value_to_set() -> None:
    assert work_problems(TIMES, WorkClocks(60, 30, 22.5, True)) == []
    [lease] = work_problems(TIMES, WorkClocks(900, 30, 15, True))
    assert "900 s" in lease
    assert "PostgresState(dsn, lease=60)" in lease
    [checkpoint] = work_problems(TIMES, WorkClocks(60, 60, 15, True))
    assert "checkpoint_lease=30 or less" in checkpoint
    [park] = work_problems(TIMES, WorkClocks(60, 30, 30, True))
    assert "park_after=22.5 or less" in park
    [cannot] = work_problems(TIMES, WorkClocks(60, None, None, False))
    assert "does not park" in cannot
    assert "Responses" in cannot
    assert work_problems(TIMES, WorkClocks()) == []  # unknown work: nothing to say


def test_the_clocks_are_read_from_a_fleet_work_and_an_assistants_router_cannot_park() -> None:
    work = fleet_work(route_lease=60, checkpoint_lease=30, park_after=15)
    assert clocks_of(work) == WorkClocks(60, 30, 15, True)
    assistants = SimpleNamespace(store=SimpleNamespace(lease=60),
                                 router=SimpleNamespace(driver=SimpleNamespace()))  # fmt: skip
    assert clocks_of(assistants) == WorkClocks(60, parks=False)
    assert clocks_of(FakeWork()) == WorkClocks()


def test_each_process_warns_when_its_work_is_built_not_before() -> None:
    built: list[Any] = []

    def factory() -> Any:
        built.append(fleet_work(route_lease=900, checkpoint_lease=60, park_after=30))
        return built[-1]

    work = ProcessWork(factory, TIMES)
    with pytest.warns(FleetConfigWarning) as caught:
        assert work.get() is built[0]
    assert len(caught) == 3  # route lease, checkpoint lease, park_after
    work.get()  # built once, warned once


def test_cancelling_tasks_on_a_connection_loss_warns_at_install() -> None:
    """Review 16 M5: True SIGTERMs every running task on a Redis blip."""
    app = dead_broker_app(worker_cancel_long_running_tasks_on_connection_loss=True)
    with pytest.warns(FleetConfigWarning, match="Leave it False"):
        install(app, FakeWork)
    install(dead_broker_app(worker_cancel_long_running_tasks_on_connection_loss=False), FakeWork)


def test_install_checks_the_work_it_is_given() -> None:
    app: Celery = dead_broker_app()
    tasks = install(app, lambda: fleet_work(route_lease=60, checkpoint_lease=60, park_after=10))
    with pytest.warns(FleetConfigWarning, match="checkpoint_lease=30"):
        tasks.work.get()
