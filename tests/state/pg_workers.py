"""What the spawned processes of the PostgreSQL tests run (importable by ``spawn``)."""

from __future__ import annotations

import os
from typing import Any

from mm_assistants.state import InboundMessage
from mm_assistants.state.postgres import PostgresDatabase, PostgresRouteStore
from mm_assistants.state.postgres.schema import migrate


def admit_all(dsn: str, name: str, threads: int, barrier: Any, results: Any) -> None:
    """Admit one delivery of its own for each of ``threads`` new threads, all at once with
    the other process; report ``{thread: outcome}``."""
    store = PostgresRouteStore(dsn)
    store.database.ensure_schema()
    barrier.wait(60)
    outcomes = {
        f"thr_{n}": store.admit(f"{name}:{n}", f"thr_{n}", InboundMessage(f"em_{name}_{n}", "hi"))
        for n in range(threads)
    }
    results.put((name, outcomes))
    store.close()


def migrate_once(dsn: str, barrier: Any, results: Any) -> None:
    """Migrate the empty database at the same moment as the others; report the version
    found before (0: this process created the tables)."""
    db = PostgresDatabase(dsn)
    conn = db.connect()
    try:
        barrier.wait(60)
        results.put(("ok", migrate(conn)))
    except Exception as error:  # noqa: BLE001 -- the parent asserts on what failed
        results.put(("error", type(error).__name__))
    finally:
        conn.close()


def backend_pid(db: PostgresDatabase, results: Any) -> None:
    """Through a database object inherited by fork: the server process serving it here."""
    with db.connection() as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    results.put((os.getpid(), int(pid)))
    db.close()
