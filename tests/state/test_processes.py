"""Claims across processes on one SQLite file: exclusive, and a dead claimer's lease lapses.

Processes are started with ``spawn`` (a fresh interpreter, as separate workers are), and
every wait is bounded so a hang fails the test instead of the run.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import time
from pathlib import Path

import pytest

from mm_assistants.state import (
    PendingRecord,
    SQLiteCheckpointStore,
    SQLitePendingStore,
    SQLiteRouteStore,
)
from tests.state import workers

KEYS = 25
LEASE = 3.0


def test_two_processes_never_win_the_same_claim(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    pending, checkpoints = SQLitePendingStore(path), SQLiteCheckpointStore(path)
    for n in range(KEYS):
        pending.add(PendingRecord(f"em_{n}", "mbx_1", f"c{n}", "send_email"))
        checkpoints.put(f"run_{n}", b"{}", format_version=1)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    processes = [
        context.Process(target=workers.claim_all, args=(path, KEYS, barrier, results))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=120) for _ in processes]
    except queue.Empty:
        pytest.fail("a claiming process did not report within 120 s")
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
    assert [process.exitcode for process in processes] == [0, 0]
    for kind in workers.KINDS:
        won = sorted(n for _, by_kind in reports for n in by_kind[kind])
        assert won == list(range(KEYS)), kind  # each key exactly once, by one process
    pending.close()
    checkpoints.close()


def test_a_dead_claimers_claims_lapse(tmp_path: Path) -> None:
    path, report = str(tmp_path / "state.db"), tmp_path / "report.json"
    pending, checkpoints = SQLitePendingStore(path), SQLiteCheckpointStore(path)
    pending.add(PendingRecord("em_dead", "mbx_1", "c1", "send_email"))
    checkpoints.put("run_dead", b"{}", format_version=1)
    process = multiprocessing.get_context("spawn").Process(
        target=workers.die_holding, args=(path, LEASE, str(report))
    )
    process.start()
    process.join(120)
    assert process.exitcode == 0
    claimed_at = json.loads(report.read_text())["claimed_at"]
    routes = SQLiteRouteStore(path, lease=LEASE)
    if time.time() < claimed_at + LEASE - 0.5:  # (a very slow machine skips this look)
        assert checkpoints.claim("run_dead", until=time.time() + 60) is None
        assert routes.stalled() == []
    # the pending claim names its process: gone, so it is taken over before its lease ends
    assert pending.claim("em_dead", "next", until=time.time() + 60) is not None
    time.sleep(max(0.0, claimed_at + LEASE - time.time()) + 0.1)
    taken = checkpoints.claim("run_dead", until=time.time() + 60)
    assert taken is not None
    assert taken.token >= 2  # larger than the dead claimer's
    assert routes.stalled() == ["thr_dead"]
    queued = routes.claim("thr_dead")
    assert queued is not None
    assert [m.text for m in queued] == ["second"]
    for store in (pending, checkpoints, routes):
        store.close()
