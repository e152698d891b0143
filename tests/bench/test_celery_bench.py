"""The Celery fleet benchmark: its pure summary on made-up numbers, its registration, and
the per-process CPU reading it relies on. No timing is asserted: figures belong to
``make bench``."""

from __future__ import annotations

import os
import time

import pytest

from bench import celery_fleet, run


def test_rows_give_cpu_per_run_against_the_one_process_baseline() -> None:
    fleet = celery_fleet.Side(runs=100, cpu=4.0, commands=2500, pushes=300, recovery=1.25)
    base = celery_fleet.Side(runs=100, cpu=1.0)
    cpu, broker, recovery = celery_fleet.summarize_celery_fleet(fleet, base)
    assert cpu.library.startswith("40.0 ms/run (n=100)")
    assert cpu.baseline.startswith("10.0 ms/run")
    assert cpu.ratio == pytest.approx(4.0)
    assert broker.library == "25.0 commands/run, 3.00 messages enqueued/run"
    assert recovery.library == "1.25 s"


def test_no_kill_that_interrupted_a_task_says_so() -> None:
    fleet = celery_fleet.Side(runs=10, cpu=1.0, recovery=None)
    rows = celery_fleet.summarize_celery_fleet(fleet, celery_fleet.Side(runs=10, cpu=0.5))
    assert rows[2].library == "—"


def test_no_scaling_ratio_row() -> None:  # issue 16: worker-count ratios are noise on 2 cores
    rows = celery_fleet.summarize_celery_fleet(
        celery_fleet.Side(10, 1.0), celery_fleet.Side(10, 1.0)
    )
    assert not any("worker" in row.benchmark and "x" in row.library for row in rows)
    assert all("scal" not in row.benchmark for row in rows)


def test_registered_in_make_bench() -> None:
    assert [b.name for b in run.select(["celery_fleet"])] == ["celery_fleet"]
    assert celery_fleet.QUICK.runs < celery_fleet.FULL.runs


def test_cpu_of_a_process_grows_when_it_works() -> None:
    before = celery_fleet._cpu(os.getpid())
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    assert celery_fleet._cpu(os.getpid()) >= before + 0.1
    assert celery_fleet._cpu(2**22 + 12345) == 0.0  # gone: nothing, not an error
