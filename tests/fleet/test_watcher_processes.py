"""Two fleet watchers in two processes (``spawn``) on one PostgreSQL: together they look at
every mailbox, and never at the same mailbox at the same time.

Each process sweeps with its own `PostgresMailboxChecks` and `PostgresPendingStore` on the
test's database and a stand-in MultiMail client that notes, for every list request, the
mailbox and when the request began and ended (each takes a little while, so overlapping
looks would show). Intervals are tiny, so each mailbox is due again and again while the
two sweep: a claim that did not exclude the other process would show as two overlapping
looks at one mailbox.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import queue
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pytest

MAILBOXES = [f"mbx_{n:02d}" for n in range(12)]
SWEEP_FOR = 2.0  # seconds each process sweeps
LOOK_TAKES = 0.02  # seconds each list request takes
BOUND = 60.0  # seconds a process may take at most, start-up included


class _Answer:
    def __init__(self, data: Any) -> None:
        self.data = data


class NotingClient:
    """A MultiMail stand-in: every held list is one page with the mailbox's one held
    email; each request is noted as (mailbox, began, ended, pid)."""

    def __init__(self, notes: Any, pid: int) -> None:
        self.notes, self.pid = notes, pid

    def request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None
    ) -> _Answer:
        mailbox_id = path.split("/")[3]
        began = time.time()
        time.sleep(LOOK_TAKES)
        self.notes.put((mailbox_id, began, time.time(), self.pid))
        return _Answer({"emails": [{"id": f"em_{mailbox_id}"}], "cursor": None})


def sweeper(dsn: str, notes: Any, start: Any) -> None:
    """One worker process: sweep for `SWEEP_FOR` seconds."""
    import os

    from mm_assistants.approvals import ApprovalHub
    from mm_assistants.approvals.fleet_watcher import FleetWatcher
    from mm_assistants.state.postgres.checks import PostgresMailboxChecks
    from mm_assistants.state.postgres.connection import PostgresDatabase
    from mm_assistants.state.postgres.pending import PostgresPendingStore

    db = PostgresDatabase(dsn)
    watcher = FleetWatcher(
        NotingClient(notes, os.getpid()),
        PostgresPendingStore(db),
        PostgresMailboxChecks(db),
        ApprovalHub(),
        lease=30,
        min_interval=0.05,
        max_interval=0.1,
        limit=3,
    )
    start.wait(BOUND)
    until = time.monotonic() + SWEEP_FOR
    while time.monotonic() < until:
        watcher.sweep()
        time.sleep(0.005)
    db.close()


def collect(processes: list[Any], notes: Any) -> list[tuple[str, float, float, int]]:
    """Every note the processes send until they end (bounded), then what is left."""
    looks: list[tuple[str, float, float, int]] = []
    deadline = time.monotonic() + BOUND
    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            looks.append(notes.get(timeout=0.1))
    for process in processes:
        process.join(timeout=5)
        assert process.exitcode == 0
    with contextlib.suppress(queue.Empty):
        while True:
            looks.append(notes.get(timeout=0.5))
    return looks


def test_two_processes_share_the_mailboxes_and_never_look_at_one_together(pg_dsn: str) -> None:
    from mm_assistants.state import PendingRecord
    from mm_assistants.state.postgres.connection import PostgresDatabase
    from mm_assistants.state.postgres.pending import PostgresPendingStore

    db = PostgresDatabase(pg_dsn)
    pending = PostgresPendingStore(db)
    for mailbox_id in MAILBOXES:
        pending.add(PendingRecord(f"em_{mailbox_id}", mailbox_id, "call", "send_email"))
    db.close()
    context = multiprocessing.get_context("spawn")
    notes, start = context.Queue(), context.Barrier(3)
    processes = [
        context.Process(target=sweeper, args=(pg_dsn, notes, start), daemon=True) for _ in range(2)
    ]
    for process in processes:
        process.start()
    try:
        start.wait(BOUND)
        looks = collect(processes, notes)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(timeout=5)

    by_mailbox: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for mailbox_id, began, ended, pid in looks:
        by_mailbox[mailbox_id].append((began, ended, pid))
    assert sorted(by_mailbox) == MAILBOXES  # together they cover every mailbox
    assert len({pid for *_, pid in looks}) == 2  # and both took part
    for mailbox_id, spans in by_mailbox.items():
        spans.sort()
        assert len(spans) >= 3, f"{mailbox_id} was due again and again but looked at rarely"
        for (_, ended, _), (began, _, _) in itertools.pairwise(spans):
            assert began >= ended, f"two looks at {mailbox_id} overlapped"


def test_a_shared_row_is_claimed_by_one_process_at_a_time(pg_dsn: str) -> None:
    pytest.importorskip("psycopg")
    from mm_assistants.state.postgres.checks import PostgresMailboxChecks

    first, second = PostgresMailboxChecks(pg_dsn), PostgresMailboxChecks(pg_dsn)
    first.watch(MAILBOXES, interval=5)
    a = first.claim_due("a", lease=30, limit=len(MAILBOXES))
    b = second.claim_due("b", lease=30, limit=len(MAILBOXES))
    assert (len(a), b) == (len(MAILBOXES), [])
    first.database.close()
    second.database.close()
