"""`SQLiteRouteStore`: the inbound router's links, seen deliveries, claims and queues in a
SQLite file; they survive restarts and can be shared by the workers of one host.

`admit`, `finish`, `release` and `claim` are each one `Database.transaction`, so two
workers sharing the file cannot both claim one thread.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from mm_assistants.state.routes import DEFAULT_LEASE, Admission, InboundMessage, check_lease
from mm_assistants.state.sqlite.connection import Database

#: 1: links, seen keys, claims and ordered queues.
SCHEMA_VERSION = 1


class SQLiteRouteStore:
    """A `RouteStore` in a SQLite file (created ``0600``): links, seen deliveries and
    queues survive restarts.

    Example::

        router = InboundRouter(openai, dispatcher, assistant_id="asst_1",
                               store=SQLiteRouteStore("routes.db"))
    """

    def __init__(self, path: str | Path, *, lease: float = DEFAULT_LEASE) -> None:
        self.lease = check_lease(lease)
        self._db = Database(path)
        self.path = self._db.path
        self._db.migrate("routes", SCHEMA_VERSION, _upgrade)

    def __repr__(self) -> str:
        return f"SQLiteRouteStore({self.path!r})"

    def target(self, mm_thread: str) -> str | None:
        """Where ``mm_thread`` continues, or ``None``."""
        with self._db.connection() as db:
            row = db.execute(
                "SELECT target FROM mm_route_links WHERE mm_thread = ?", (mm_thread,)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_target(self, mm_thread: str, target: str) -> None:
        """Remember where ``mm_thread`` continues."""
        with self._db.connection() as db:
            db.execute(
                "INSERT INTO mm_route_links VALUES (?, ?, ?) ON CONFLICT(mm_thread)"
                " DO UPDATE SET target = excluded.target, updated_at = excluded.updated_at",
                (mm_thread, target, time.time()),
            )

    def seen(self, key: str) -> bool:
        """Whether the delivery ``key`` was admitted or held before."""
        with self._db.connection() as db:
            row = db.execute("SELECT 1 FROM mm_route_seen WHERE key = ?", (key,))
            return row.fetchone() is not None

    def mark_seen(self, key: str) -> None:
        """Remember the delivery ``key`` without queueing anything."""
        with self._db.connection() as db:
            db.execute("INSERT OR IGNORE INTO mm_route_seen VALUES (?, ?)", (key, time.time()))

    def admit(self, key: str, mm_thread: str, message: InboundMessage) -> Admission:
        """Seen-check, then queue or claim, atomically (see `RouteStore.admit`)."""
        with self._db.transaction() as db:
            now = time.time()
            inserted = db.execute(
                "INSERT OR IGNORE INTO mm_route_seen VALUES (?, ?)", (key, now)
            ).rowcount
            if inserted == 0:
                return "duplicate"
            if self._live(db, mm_thread, now):
                _enqueue(db, mm_thread, [message])
                return "queued"
            _set_claim(db, mm_thread, now)
            return "claimed"

    def finish(self, mm_thread: str) -> list[InboundMessage]:
        """Take the queue, or drop the claim when it is empty (see `RouteStore.finish`)."""
        with self._db.transaction() as db:
            queued = _take_queue(db, mm_thread)
            if queued:
                _set_claim(db, mm_thread, time.time())
            else:
                db.execute("DELETE FROM mm_route_claims WHERE mm_thread = ?", (mm_thread,))
            return queued

    def release(self, mm_thread: str, messages: list[InboundMessage]) -> None:
        """Put ``messages`` back first and drop the claim (see `RouteStore.release`)."""
        with self._db.transaction() as db:
            # Given-back messages go before the ones queued meanwhile: negative positions.
            first = db.execute(
                "SELECT COALESCE(MIN(position), 0) FROM mm_route_queue WHERE mm_thread = ?",
                (mm_thread,),
            ).fetchone()[0]
            for offset, message in enumerate(reversed(messages), start=1):
                _insert(db, mm_thread, first - offset, message)
            db.execute("DELETE FROM mm_route_claims WHERE mm_thread = ?", (mm_thread,))

    def stalled(self) -> list[str]:
        """Threads with queued messages and no live claim."""
        with self._db.connection() as db:
            rows = db.execute(
                "SELECT DISTINCT q.mm_thread FROM mm_route_queue q LEFT JOIN mm_route_claims c"
                " ON c.mm_thread = q.mm_thread WHERE c.claimed_at IS NULL OR c.claimed_at < ?",
                (time.time() - self.lease,),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def claim(self, mm_thread: str) -> list[InboundMessage] | None:
        """Claim a stalled thread: its queued messages, or ``None`` if it is claimed."""
        with self._db.transaction() as db:
            now = time.time()
            if self._live(db, mm_thread, now):
                return None
            _set_claim(db, mm_thread, now)
            return _take_queue(db, mm_thread)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _live(self, db: sqlite3.Connection, mm_thread: str, now: float) -> bool:
        row = db.execute(
            "SELECT claimed_at FROM mm_route_claims WHERE mm_thread = ?", (mm_thread,)
        ).fetchone()
        return row is not None and now - float(row[0]) < self.lease


def _upgrade(db: sqlite3.Connection, found: int) -> None:
    for statement in (
        "CREATE TABLE IF NOT EXISTS mm_route_links ("
        " mm_thread TEXT PRIMARY KEY, target TEXT NOT NULL, updated_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS mm_route_seen (key TEXT PRIMARY KEY, seen_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS mm_route_claims ("
        " mm_thread TEXT PRIMARY KEY, claimed_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS mm_route_queue ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, mm_thread TEXT NOT NULL,"
        " position INTEGER NOT NULL, email_id TEXT NOT NULL, text TEXT NOT NULL,"
        " received_at REAL NOT NULL)",
        "CREATE INDEX IF NOT EXISTS mm_route_queue_thread ON mm_route_queue (mm_thread, position)",
    ):
        db.execute(statement)


def _insert(db: sqlite3.Connection, mm_thread: str, position: int, message: InboundMessage) -> None:
    db.execute(
        "INSERT INTO mm_route_queue (mm_thread, position, email_id, text, received_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (mm_thread, position, message.email_id, message.text, message.received_at),
    )


def _enqueue(db: sqlite3.Connection, mm_thread: str, messages: list[InboundMessage]) -> None:
    last = db.execute(
        "SELECT COALESCE(MAX(position), 0) FROM mm_route_queue WHERE mm_thread = ?", (mm_thread,)
    ).fetchone()[0]
    for offset, message in enumerate(messages, start=1):
        _insert(db, mm_thread, last + offset, message)


def _take_queue(db: sqlite3.Connection, mm_thread: str) -> list[InboundMessage]:
    rows = db.execute(
        "SELECT email_id, text, received_at FROM mm_route_queue WHERE mm_thread = ?"
        " ORDER BY position, id",
        (mm_thread,),
    ).fetchall()
    db.execute("DELETE FROM mm_route_queue WHERE mm_thread = ?", (mm_thread,))
    return [InboundMessage(str(r[0]), str(r[1]), float(r[2])) for r in rows]


def _set_claim(db: sqlite3.Connection, mm_thread: str, now: float) -> None:
    db.execute("INSERT OR REPLACE INTO mm_route_claims VALUES (?, ?)", (mm_thread, now))
