"""`install` on a Celery app, without a worker: the tasks' options, the clocks, the
visibility-timeout warning, the beat entry, one Work per process, and a bell that a dead
broker cannot turn into an error or a stall."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import pytest
from celery import Celery

from mm_assistants.celery import ProcessWork, VisibilityTimeoutWarning, install, task_times
from mm_assistants.celery.config import visibility_problem
from mm_assistants.celery.tasks import RESUME_RUN, ROUTE_INBOUND, START_RUN, SWEEP
from tests.redis_server import PASSWORD, free_port

NAMES = (ROUTE_INBOUND, START_RUN, RESUME_RUN, SWEEP)


@dataclass
class Plan:
    threads: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)


@dataclass
class FakeWork:
    """Records the keys each primitive was called with."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    plan: Plan = field(default_factory=Plan)
    closed: bool = False

    def route_inbound(self, key: str) -> Any:
        self.calls.append(("route_inbound", key))
        return "busy"

    def start_run(self, key: str) -> Any:
        self.calls.append(("start_run", key))

    def resume_run(self, checkpoint_id: str) -> Any:
        self.calls.append(("resume_run", checkpoint_id))

    def sweep(self, *, limit: int = 100) -> Plan:
        self.calls.append(("sweep", str(limit)))
        return self.plan

    def close(self) -> None:
        self.closed = True


def dead_broker_app(**conf: Any) -> Celery:
    """An app whose broker URL points at a loopback port nothing listens on."""
    app = Celery("probe", broker=f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0")
    app.conf.update(broker_connection_timeout=1, **conf)
    return app


def test_the_tasks_are_acks_late_ignore_results_and_never_loop_a_lost_worker() -> None:
    app = dead_broker_app()
    tasks = install(app, FakeWork, queue="mm-q", lease=60)
    for name in NAMES:
        task = app.tasks[name]
        assert task.acks_late is True
        assert task.ignore_result is True
        assert not task.reject_on_worker_lost  # a poisoned message is acknowledged, not looped
        assert app.amqp.router.route({}, name)["queue"].name == "mm-q"
        assert 0 < task.soft_time_limit < task.time_limit <= 60
    assert tasks.times.soft_time_limit == 45
    entry = app.conf.beat_schedule["mm-assistants-sweep"]
    assert entry["task"] == SWEEP
    assert entry["schedule"] == 30
    assert entry["options"] == {"queue": "mm-q", "expires": 30}


def test_a_user_beat_schedule_is_kept() -> None:
    app = dead_broker_app(beat_schedule={"mine": {"task": "x", "schedule": 5}})
    install(app, FakeWork, beat_every=10)
    assert set(app.conf.beat_schedule) == {"mine", "mm-assistants-sweep"}


def test_a_short_visibility_timeout_warns_naming_the_setting_and_the_value() -> None:
    app = dead_broker_app(broker_transport_options={"visibility_timeout": 30})
    with pytest.warns(VisibilityTimeoutWarning) as caught:
        install(app, FakeWork, lease=60)
    [warning] = caught
    text = str(warning.message)
    assert "broker_transport_options" in text
    assert "visibility_timeout': 120" in text
    assert PASSWORD not in text


def test_the_default_visibility_timeout_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        install(dead_broker_app(), FakeWork, lease=60)
        install(dead_broker_app(broker_transport_options={"visibility_timeout": 61}), FakeWork)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        pytest.param({"lease": 0, "beat_every": 30}, "lease", id="no-lease"),
        pytest.param({"lease": float("nan"), "beat_every": 30}, "lease", id="nan-lease"),
        pytest.param({"lease": 60, "beat_every": float("inf")}, "beat_every", id="inf-beat"),
        pytest.param({"lease": 60, "beat_every": 30, "soft_time_limit": 60}, "below", id="soft"),
    ],
)
def test_clocks_that_cannot_nest_are_refused(arguments: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        task_times(**arguments)


def test_the_clocks_nest_soft_then_hard_then_lease_then_visibility() -> None:
    times = task_times(lease=20, beat_every=5, soft_time_limit=18, visibility_timeout=40)
    assert (times.soft_time_limit, times.time_limit) == (18, 20)  # the hard cap is the lease
    assert visibility_problem(times) is None
    assert "80" in str(
        visibility_problem(task_times(lease=40, beat_every=5, visibility_timeout=40))
    )


def test_max_attempts_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        install(dead_broker_app(), FakeWork, max_attempts=0)


def test_the_tasks_pass_keys_to_the_work_and_the_sweep_enqueues_its_plan() -> None:
    app = dead_broker_app()
    tasks = install(app, FakeWork)
    sent: list[tuple[str, tuple[str, ...]]] = []
    tasks_enqueue = tasks.enqueue

    def record(task: Any, *keys: str) -> bool:
        sent.append((task.name, keys))
        return True

    object.__setattr__(tasks, "enqueue", record)
    try:
        app.tasks[ROUTE_INBOUND].run("thr_1")
        app.tasks[START_RUN].run("req_1")
        app.tasks[RESUME_RUN].run("ck_1")
        work = tasks.work.get()
        assert isinstance(work, FakeWork)
        work.plan = Plan(threads=["thr_2"], checkpoints=["ck_2"])
        app.tasks[SWEEP].run()
    finally:
        object.__setattr__(tasks, "enqueue", tasks_enqueue)
    assert work.calls == [
        ("route_inbound", "thr_1"),
        ("start_run", "req_1"),
        ("resume_run", "ck_1"),
        ("sweep", "100"),
    ]
    assert sent == [(ROUTE_INBOUND, ("thr_2",)), (RESUME_RUN, ("ck_2",))]


def test_a_dead_broker_costs_a_logged_false_at_once_never_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = install(dead_broker_app(), FakeWork)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mm_assistants.celery"):
        assert tasks.enqueue(tasks.route_inbound, "thr_1") is False
    assert time.monotonic() - started < 5
    assert "could not enqueue mm_assistants.route_inbound" in caplog.text
    assert "thr_1" in caplog.text
    assert PASSWORD not in caplog.text


def test_a_process_builds_its_own_work_once_and_again_after_a_fork(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[FakeWork] = []

    def factory() -> FakeWork:
        built.append(FakeWork())
        return built[-1]

    work = ProcessWork(factory)
    assert work.get() is work.get()
    assert len(built) == 1
    monkeypatch.setattr("os.getpid", lambda: -1)  # as in a child forked after the first
    child = work.get()
    assert child is built[1]
    assert not built[0].closed  # what the parent owns is never closed by the child
    work.close()
    assert built[1].closed
