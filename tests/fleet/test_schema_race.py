"""Four processes starting at once on one empty PostgreSQL database all set it up, and the
tables are created once (the migration runs under an advisory lock)."""

from __future__ import annotations

import multiprocessing
import queue

import psycopg
import pytest

from mm_assistants.state.postgres.schema import CURRENT_VERSION
from tests.state import pg_workers

PROCESSES = 4


def test_four_processes_migrating_an_empty_database_all_succeed(pg_dsn: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [
        context.Process(target=pg_workers.migrate_once, args=(pg_dsn, barrier, results))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=120) for _ in processes]
    except queue.Empty:
        pytest.fail("a migrating process did not report within 120 s")
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
    assert [process.exitcode for process in processes] == [0] * PROCESSES
    assert [outcome for outcome, _ in reports] == ["ok"] * PROCESSES, reports
    # one created the tables; the others waited for its lock and found them made
    assert sorted(found for _, found in reports) == [0] + [CURRENT_VERSION] * (PROCESSES - 1)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT id, version FROM mm_schema_version").fetchall() == [
            (1, CURRENT_VERSION)
        ]
