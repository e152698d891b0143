"""A run that hangs does not keep its thread forever (review 1, finding 8): past the
router's ``max_run_seconds`` the heartbeat stops renewing, the claim lapses one lease
later, another worker runs the thread's queued mail, and the hung run's late writes are
refused by the fencing token. ``run_limit`` picks the default from the driver."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.inbound import InboundRouter
from mm_assistants.inbound.run_limit import DEFAULT_MAX_RUN, RUN_MARGIN, run_limit
from tests.inbound.fleet_fakes import BACKENDS, Dispatcher, Driver, email, make_store, outcome

LEASE = 0.3


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return make_store(request.param, tmp_path, LEASE)


def worker(store: Any, **options: Any) -> InboundRouter:
    return InboundRouter(
        None, Dispatcher(), model="gpt-test", driver=Driver(), store=store, **options
    )


def test_a_hung_run_loses_the_thread_and_its_late_writes_change_nothing(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    release, started = threading.Event(), threading.Event()
    hung = worker(store, background=True, max_run_seconds=LEASE)

    def never_returns() -> Any:  # a deadlocked tool: until the test lets it go
        started.set()
        assert release.wait(10), "the test never released the run"
        return outcome("completed", "resp_stale")

    hung.driver.run_script.append(never_returns)
    other = worker(store)
    try:
        with caplog.at_level(logging.WARNING):
            assert hung.route(email(1)).action == "started"
            assert started.wait(5)
            assert other.route(email(2)).action == "queued"  # the claim is held
            until = time.monotonic() + 5
            while other.drain() == 0:  # lapses after max_run_seconds plus one lease
                assert time.monotonic() < until, "the hung run kept its claim"
                time.sleep(0.05)
            assert "email_id: em_2" in other.driver.runs[0][0][0]["content"]
            assert store.target("thr_1") == "resp_run_1"
    finally:
        release.set()
        assert hung.join(10)
        hung.close()
    assert store.target("thr_1") == "resp_run_1"  # the stale run's target was refused
    assert store.token("thr_1") is None
    assert other.route(email(3)).action == "started"  # nothing left claimed
    assert "inbound thread thr_1: the run passed max_run_seconds" in caplog.text
    assert "em_1" not in caplog.text  # the thread id only


def test_a_run_within_its_limit_keeps_the_thread(store: Any) -> None:
    router = worker(store, max_run_seconds=LEASE * 10)
    other = worker(store)
    seen: list[str] = []

    def long_run() -> Any:
        time.sleep(LEASE * 2.5)  # past the lease, within max_run_seconds
        seen.append(str(other.drain()))
        return outcome("completed", "resp_a")

    router.driver.run_script.append(long_run)
    assert [o.status for o in router.route(email(1)).outcomes] == ["completed"]
    assert seen == ["0"]  # nobody took the thread over
    assert store.target("thr_1") == "resp_a"


class _Deadline:
    def __init__(self, deadline: object) -> None:
        self.deadline = deadline


def test_run_limit_default_explicit_and_from_the_driver_deadline() -> None:
    assert run_limit(None, object()) == DEFAULT_MAX_RUN == 3600.0
    assert run_limit(None, _Deadline(None)) == DEFAULT_MAX_RUN
    assert run_limit(None, _Deadline(600.0)) == DEFAULT_MAX_RUN  # the hour covers it
    assert run_limit(None, _Deadline(7200)) == 7200 + RUN_MARGIN  # never cut a run short
    assert run_limit(None, _Deadline(True)) == DEFAULT_MAX_RUN
    assert run_limit(90, _Deadline(7200)) == 90.0  # an explicit limit wins
    assert worker(None).max_run_seconds == DEFAULT_MAX_RUN


@pytest.mark.parametrize("bad", [0, -5, True, "60", float("nan")])
def test_a_bad_max_run_seconds_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="max_run_seconds"):
        worker(None, max_run_seconds=bad)
