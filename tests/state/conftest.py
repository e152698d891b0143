"""The backends every store contract in this folder runs against.

A backend is a `Backend`: factories for the four stores, all opening the *same* state (for
SQLite a new connection to one file per call, as another worker process would have; for
memory the same object), and, where rows exist, a way to write an unreadable one. A new
backend (Postgres) is one more entry in `BACKENDS`: every contract test then runs on it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.state import (
    CheckpointStore,
    MemoryCheckpointStore,
    MemoryPendingStore,
    MemoryRouteStore,
    MemorySeenStore,
    PendingStore,
    RouteStore,
    SeenDeliveries,
    SQLiteCheckpointStore,
    SQLitePendingStore,
    SQLiteRouteStore,
    SQLiteSeenStore,
)
from mm_assistants.state.postgres import (
    PostgresCheckpointStore,
    PostgresPendingStore,
    PostgresRouteStore,
    PostgresSeenStore,
)


@dataclass
class Backend:
    """One backend under test (see the module docstring)."""

    name: str
    make_pending: Callable[[], PendingStore]
    make_routes: Callable[..., RouteStore]
    make_seen: Callable[[], SeenDeliveries]
    make_checkpoints: Callable[[], CheckpointStore]
    #: Write a row the store cannot read: (table kind, key, what to write); None: no rows.
    corrupt: Callable[[str, str, object], None] | None = None
    opened: list[Any] = field(default_factory=list)

    def pending(self) -> PendingStore:
        return self._keep(self.make_pending())

    def routes(self, **options: float) -> RouteStore:
        return self._keep(self.make_routes(**options))

    def seen(self) -> SeenDeliveries:
        return self._keep(self.make_seen())

    def checkpoints(self) -> CheckpointStore:
        return self._keep(self.make_checkpoints())

    def close(self) -> None:
        for store in self.opened:
            close = getattr(store, "close", None)
            if close is not None:
                close()

    def _keep(self, store: Any) -> Any:
        self.opened.append(store)
        return store


def memory_backend(folder: Path) -> Backend:
    pending, seen, checkpoints = MemoryPendingStore(), MemorySeenStore(), MemoryCheckpointStore()
    routes: dict[tuple[tuple[str, float], ...], MemoryRouteStore] = {}

    def make_routes(**options: float) -> RouteStore:
        return routes.setdefault(tuple(sorted(options.items())), MemoryRouteStore(**options))

    return Backend(
        "memory", lambda: pending, make_routes, lambda: seen, lambda: checkpoints, corrupt=None
    )


def sqlite_backend(folder: Path) -> Backend:
    path = folder / "state.db"  # one file for all four stores: their tables do not overlap

    def corrupt(kind: str, key: str, value: object) -> None:
        with sqlite3.connect(path) as db:
            if kind == "pending":
                db.execute(
                    "INSERT INTO mm_pending_approvals (email_id, recorded_at, record)"
                    " VALUES (?, ?, ?)",
                    (key, 2.0, value),
                )
            else:
                db.execute(
                    "INSERT INTO mm_checkpoints (checkpoint_id, record, format_version,"
                    " updated_at) VALUES (?, ?, ?, ?)",
                    (key, value, 1, 1.0),
                )

    return Backend(
        "sqlite",
        lambda: SQLitePendingStore(path),
        lambda **options: SQLiteRouteStore(path, **options),
        lambda: SQLiteSeenStore(path),
        lambda: SQLiteCheckpointStore(path),
        corrupt=corrupt,
    )


def postgres_backend(folder: Path, dsn: str) -> Backend:
    """Each store on its own pool of one fresh database, as another worker process would
    open it (a test of the shared pool is in test_postgres.py)."""
    import psycopg

    def corrupt(kind: str, key: str, value: object) -> None:
        # PostgreSQL types its columns: text holds no NUL and bytea always reads as bytes,
        # so the unreadable row is what these columns can still hold.
        with psycopg.connect(dsn, autocommit=True) as conn:
            if kind == "pending":
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                conn.execute(
                    "INSERT INTO mm_pending (email_id, mailbox_id, record, recorded_at)"
                    " VALUES (%s, 'mbx_odd', %s, 2.0)",
                    (key, text.replace("\x00", "")),
                )
            else:
                conn.execute(
                    "INSERT INTO mm_checkpoints (checkpoint_id, record, format_version)"
                    " VALUES (%s, %s, 0)",
                    (key, str(value).encode()),
                )

    def schema_first(make: Callable[..., Any]) -> Callable[..., Any]:
        def opened(**options: Any) -> Any:
            store = make(dsn, **options)
            store.database.ensure_schema()  # corrupt() may write before the store does
            return store

        return opened

    return Backend(
        "postgres",
        schema_first(PostgresPendingStore),
        schema_first(PostgresRouteStore),
        schema_first(PostgresSeenStore),
        schema_first(PostgresCheckpointStore),
        corrupt=corrupt,
    )


#: Every backend the contracts run on; each takes a folder (and PostgreSQL a fresh DSN).
BACKENDS: dict[str, Callable[..., Backend]] = {
    "memory": memory_backend,
    "sqlite": sqlite_backend,
    "postgres": postgres_backend,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each backend in turn, on fresh state (PostgreSQL starts only for its own tests)."""
    if request.param == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        made = BACKENDS["postgres"](tmp_path, cluster.fresh_dsn())
    else:
        made = BACKENDS[request.param](tmp_path)
    yield made
    made.close()
