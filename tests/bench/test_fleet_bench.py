"""The fleet benchmarks: their pure summaries on made-up numbers, the skipped row where
PostgreSQL cannot be had, and one tiny real run of the resume benchmark.

No timing is asserted: the figures belong to ``make bench``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench import fleet_resume, fleet_support, fleet_wakeup, fleet_watcher, run
from bench.harness import Measured, run_benchmark
from mm_assistants.sandbox import Sandbox
from tests.pgcluster import why_unavailable

# -- fleet_wakeup -------------------------------------------------------------------------------


def wakeup_side(p50: float, gets: int = 0) -> fleet_wakeup.Side:
    return fleet_wakeup.Side([p50 / 2, p50, p50 * 3], gets, gets, {"hub": 3})


def test_fleet_wakeup_met_when_fast_and_quiet() -> None:
    [row] = fleet_wakeup.summarize_fleet_wakeup(wakeup_side(0.010), wakeup_side(0.002))
    assert row.met is True
    assert row.note is None
    assert row.ratio == pytest.approx(5.0)
    assert row.library.startswith("p50 10.0 ms, p95 30.0 ms (n=3), 0 status GETs")


@pytest.mark.parametrize(
    ("p50", "gets", "says"),
    [
        pytest.param(0.080, 0, "LISTEN connection", id="slow"),
        pytest.param(0.010, 2, "2 status GETs", id="polled"),
    ],
)
def test_fleet_wakeup_missed_says_why(p50: float, gets: int, says: str) -> None:
    [row] = fleet_wakeup.summarize_fleet_wakeup(wakeup_side(p50, gets), wakeup_side(0.002))
    assert row.met is False
    assert row.note is not None
    assert says in row.note


# -- fleet_watcher ------------------------------------------------------------------------------


def watcher_side(total: int, still_held: int = 1000) -> fleet_watcher.Side:
    requests = {"total": total}
    return fleet_watcher.Side(1000, 60.0, requests, still_held, {"waits": 1000})


def test_fleet_watcher_ratio_per_minute() -> None:
    [row] = fleet_watcher.summarize_fleet_watcher(
        watcher_side(10), watcher_side(6000), fleet_watcher.FULL
    )
    assert row.ratio == pytest.approx(10 / 6000)
    assert row.met is True
    assert row.library.startswith("10 requests/min")
    assert "6,000 requests/min" in row.baseline


def test_fleet_watcher_missed_when_over_one_percent() -> None:
    [row] = fleet_watcher.summarize_fleet_watcher(
        watcher_side(120), watcher_side(6000), fleet_watcher.FULL
    )
    assert row.met is False
    assert row.note is not None
    assert "every page" in row.note


def test_fleet_watcher_a_decision_in_the_window_fails_the_row() -> None:
    [row] = fleet_watcher.summarize_fleet_watcher(
        watcher_side(10, still_held=997), watcher_side(6000), fleet_watcher.FULL
    )
    assert row.met is False
    assert row.note is not None
    assert "decided during the window" in row.note


# -- fleet_resume -------------------------------------------------------------------------------


def test_fleet_resume_rows() -> None:
    resumed = fleet_resume.Phase(100, {"completed": 100}, 2.0)
    fresh = fleet_resume.Phase(100, {"completed": 100}, 4.0)
    checks = fleet_resume.Checks(100, 0, 100, 0)
    speed, once = fleet_resume.summarize_fleet_resume(resumed, fresh, checks, fleet_resume.QUICK)
    assert speed.ratio == pytest.approx(0.5)  # time per run, resumed / fresh
    assert speed.library.startswith("50.0 runs/s")
    assert speed.met is None
    assert once.met is True


@pytest.mark.parametrize(
    "checks",
    [
        pytest.param(fleet_resume.Checks(99, 0, 100, 0), id="one-not-gone"),
        pytest.param(fleet_resume.Checks(100, 1, 100, 0), id="a-send-repeated"),
        pytest.param(fleet_resume.Checks(100, 0, 99, 1), id="delivered-twice"),
    ],
)
def test_fleet_resume_exactly_once_fails_on_any_repeat(checks: fleet_resume.Checks) -> None:
    phase = fleet_resume.Phase(100, {"completed": 100}, 2.0)
    _, once = fleet_resume.summarize_fleet_resume(phase, phase, checks, fleet_resume.QUICK)
    assert once.met is False


# -- support ------------------------------------------------------------------------------------


def test_fleet_benchmarks_are_registered() -> None:
    names = [benchmark.name for benchmark in run.select(["fleet_wakeup,fleet_watcher"])]
    assert names == ["fleet_wakeup", "fleet_watcher"]
    assert run.select(["fleet_resume"])[0].name == "fleet_resume"


def test_without_postgres_the_benchmark_reports_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def unavailable() -> Iterator[str]:
        raise fleet_support.Unavailable("PostgreSQL's initdb is not installed")
        yield ""  # pragma: no cover

    monkeypatch.setattr(fleet_support, "throwaway_postgres", unavailable)

    def never(sandbox: Sandbox, config: object, dsn: str) -> Measured:
        raise AssertionError("measured without a database")

    measured = fleet_support.with_postgres("Fleet thing", never)(None, None)  # type: ignore[arg-type]
    [row] = measured.rows
    assert row.library == "skipped: PostgreSQL's initdb is not installed"
    assert row.target is None
    assert row.met is None
    assert measured.numbers == {"skipped": "PostgreSQL's initdb is not installed"}


def test_a_failure_after_the_start_is_the_run_s_error(monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def started() -> Iterator[str]:
        yield "postgresql://u:secret@127.0.0.1:1/db"

    monkeypatch.setattr(fleet_support, "throwaway_postgres", started)

    def broken(sandbox: Sandbox, config: object, dsn: str) -> Measured:
        raise fleet_support.Unavailable("not a skip: the measurement broke")

    with pytest.raises(fleet_support.Unavailable, match="measurement broke"):
        fleet_support.with_postgres("Fleet thing", broken)(None, None)  # type: ignore[arg-type]


def test_difference_keeps_the_routes_that_moved() -> None:
    before = {"GET /a": 3, "GET /b": 1, "total": 4}
    after = {"GET /a": 5, "GET /b": 1, "GET /c": 2, "total": 8}
    assert fleet_support.difference(after, before) == {"GET /a": 2, "GET /c": 2, "total": 4}


# -- one tiny real run --------------------------------------------------------------------------


@pytest.mark.skipif(why_unavailable() is not None, reason=str(why_unavailable()))
def test_a_tiny_resume_run_finishes_every_run_once() -> None:
    config = fleet_resume.FleetResumeConfig(
        runs=4, processes=2, threads=2, park_after=0.2, timeout=60.0
    )
    result = run_benchmark(fleet_resume.BENCHMARK, config)

    assert result.error is None
    assert result.numbers["checks"] == {
        "gone_when_resumed_again": 4,
        "sends_while_resuming": 0,
        "approved_emails_delivered_once": 4,
        "approved_emails_delivered_more_than_once": 0,
    }
    assert result.numbers["resumed"]["ends"] == {"completed": 4}
    assert result.met
