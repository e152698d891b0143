"""`SQLiteRouteStore`: the inbound router's links, seen deliveries, claims and queues in a
SQLite file; they survive restarts and can be shared by the workers of one host.

`admit`, `finish`, `release`, `claim`, `park` and `unpark` are each one
`Database.transaction`, so two workers sharing the file cannot both claim one thread. A
claim's fencing token comes from one AUTOINCREMENT counter (``mm_route_fences``), which
SQLite never hands out twice, even after rows are deleted.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from mm_assistants.state.routes import (
    DEFAULT_LEASE,
    Admission,
    Claimed,
    ClaimedMessages,
    Enqueued,
    FailedThread,
    InboundMessage,
    check_lease,
)
from mm_assistants.state.sqlite.connection import Database

#: 1: links, seen keys, claims and ordered queues. 2: a claim's fencing token and parked
#: checkpoint (a version-1 file is upgraded in place; its claims get token 0).
SCHEMA_VERSION = 2


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

    def set_target(self, mm_thread: str, target: str, *, token: int | None = None) -> bool:
        """Remember where ``mm_thread`` continues (see `RouteStore.set_target`)."""
        with self._db.transaction() as db:
            held = _claim_row(db, mm_thread)
            if token is not None and (held is None or held[1] != token):
                return False
            db.execute(
                "INSERT INTO mm_route_links VALUES (?, ?, ?) ON CONFLICT(mm_thread)"
                " DO UPDATE SET target = excluded.target, updated_at = excluded.updated_at",
                (mm_thread, target, time.time()),
            )
            return True

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
            if self._live(db, mm_thread, now) is not None:
                _enqueue(db, mm_thread, [message])
                return "queued"
            fence = _next_fence(db)
            _set_claim(db, mm_thread, now, fence)
            return Claimed(fence)

    def enqueue(self, key: str, mm_thread: str, message: InboundMessage) -> Enqueued:
        """Seen-check and queue, atomically, never claiming (see `RouteStore.enqueue`)."""
        with self._db.transaction() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO mm_route_seen VALUES (?, ?)", (key, time.time())
            ).rowcount
            if inserted == 0:
                return "duplicate"
            _enqueue(db, mm_thread, [message])
            return "queued"

    def attempts(self, mm_thread: str) -> int:
        """Not counted by this backend yet (issue 16: memory only): always 0."""
        return 0

    def fail(self, mm_thread: str, token: int, reason: str) -> bool:
        """Not available on this backend yet (issue 16: memory only)."""
        raise NotImplementedError("RouteStore.fail: SQLite support is not written yet")

    def failed(self, *, limit: int = 100) -> list[FailedThread]:
        """Not available on this backend yet (issue 16: memory only)."""
        raise NotImplementedError("RouteStore.failed: SQLite support is not written yet")

    def finish(self, mm_thread: str, *, token: int | None = None) -> list[InboundMessage]:
        """Take the queue, or drop the claim when it is empty (see `RouteStore.finish`);
        a parked claim stays, with its queue."""
        with self._db.transaction() as db:
            held = _claim_row(db, mm_thread)
            if held is not None and held[2] is not None:
                return []
            if token is not None and (held is None or held[1] != token):
                return []
            queued = _take_queue(db, mm_thread)
            if queued:
                fence = held[1] if held is not None else _next_fence(db)
                _set_claim(db, mm_thread, time.time(), fence)
            else:
                db.execute("DELETE FROM mm_route_claims WHERE mm_thread = ?", (mm_thread,))
            return queued

    def release(
        self, mm_thread: str, messages: list[InboundMessage], *, token: int | None = None
    ) -> None:
        """Put ``messages`` back first and drop the claim (see `RouteStore.release`); a
        parked claim or another's claim stays."""
        with self._db.transaction() as db:
            # Given-back messages go before the ones queued meanwhile: negative positions.
            first = db.execute(
                "SELECT COALESCE(MIN(position), 0) FROM mm_route_queue WHERE mm_thread = ?",
                (mm_thread,),
            ).fetchone()[0]
            for offset, message in enumerate(reversed(messages), start=1):
                _insert(db, mm_thread, first - offset, message)
            db.execute(
                "DELETE FROM mm_route_claims WHERE mm_thread = ? AND parked IS NULL"
                " AND (? IS NULL OR fence = ?)",
                (mm_thread, token, token),
            )

    def token(self, mm_thread: str) -> int | None:
        """The fencing token of the thread's live or parked claim, or ``None``."""
        with self._db.connection() as db:
            held = self._live(db, mm_thread, time.time())
        return None if held is None else held[1]

    def heartbeat(self, mm_thread: str, token: int) -> bool:
        """Renew the claim ``token`` (see `RouteStore.heartbeat`); a parked one needs none."""
        with self._db.connection() as db:
            renewed = db.execute(
                "UPDATE mm_route_claims SET claimed_at = CASE WHEN parked IS NULL THEN ?"
                " ELSE claimed_at END WHERE mm_thread = ? AND fence = ?",
                (time.time(), mm_thread, token),
            ).rowcount
        return renewed == 1

    def park(self, mm_thread: str, token: int, checkpoint_id: str) -> bool:
        """Keep the claim ``token`` without a lease (see `RouteStore.park`)."""
        with self._db.connection() as db:
            parked = db.execute(
                "UPDATE mm_route_claims SET parked = ? WHERE mm_thread = ? AND fence = ?",
                (checkpoint_id, mm_thread, token),
            ).rowcount
        return parked == 1

    def parked(self, mm_thread: str) -> str | None:
        """The checkpoint id of the thread's parked run, or ``None``."""
        with self._db.connection() as db:
            held = _claim_row(db, mm_thread)
        return None if held is None or held[2] is None else held[2]

    def unpark(self, mm_thread: str, checkpoint_id: str) -> tuple[int, list[InboundMessage]] | None:
        """A fresh live claim and the queued messages, once (see `RouteStore.unpark`)."""
        with self._db.transaction() as db:
            held = _claim_row(db, mm_thread)
            if held is None or held[2] != checkpoint_id:
                return None
            fence = _next_fence(db)
            _set_claim(db, mm_thread, time.time(), fence)
            return fence, _take_queue(db, mm_thread)

    def stalled(self) -> list[str]:
        """Threads with queued messages and no live or parked claim."""
        with self._db.connection() as db:
            rows = db.execute(
                "SELECT DISTINCT q.mm_thread FROM mm_route_queue q LEFT JOIN mm_route_claims c"
                " ON c.mm_thread = q.mm_thread WHERE c.mm_thread IS NULL"
                " OR (c.parked IS NULL AND c.claimed_at <= ?)",
                (time.time() - self.lease,),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def claim(self, mm_thread: str, *, recover: bool = False) -> ClaimedMessages | None:
        """Claim a stalled thread: its queued messages with the new claim's token, or
        ``None`` if it is claimed (``recover`` is not honoured by this backend yet: a
        lapsed claim's messages stay lost with its worker)."""
        with self._db.transaction() as db:
            now = time.time()
            if self._live(db, mm_thread, now) is not None:
                return None
            fence = _next_fence(db)
            _set_claim(db, mm_thread, now, fence)
            return ClaimedMessages(_take_queue(db, mm_thread), fence)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _live(
        self, db: sqlite3.Connection, mm_thread: str, now: float
    ) -> tuple[float, int, str | None] | None:
        held = _claim_row(db, mm_thread)
        if held is None or (held[2] is None and now - held[0] >= self.lease):
            return None
        return held


def _upgrade(db: sqlite3.Connection, found: int) -> None:
    if found == 1:  # version 1 claims had neither a token nor a park
        db.execute("ALTER TABLE mm_route_claims ADD COLUMN fence INTEGER NOT NULL DEFAULT 0")
        db.execute("ALTER TABLE mm_route_claims ADD COLUMN parked TEXT")
    for statement in (
        "CREATE TABLE IF NOT EXISTS mm_route_links ("
        " mm_thread TEXT PRIMARY KEY, target TEXT NOT NULL, updated_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS mm_route_seen (key TEXT PRIMARY KEY, seen_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS mm_route_claims (mm_thread TEXT PRIMARY KEY,"
        " claimed_at REAL NOT NULL, fence INTEGER NOT NULL DEFAULT 0, parked TEXT)",
        "CREATE TABLE IF NOT EXISTS mm_route_fences (fence INTEGER PRIMARY KEY AUTOINCREMENT)",
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


def _set_claim(db: sqlite3.Connection, mm_thread: str, now: float, fence: int) -> None:
    db.execute(
        "INSERT OR REPLACE INTO mm_route_claims (mm_thread, claimed_at, fence, parked)"
        " VALUES (?, ?, ?, NULL)",
        (mm_thread, now, fence),
    )


def _claim_row(db: sqlite3.Connection, mm_thread: str) -> tuple[float, int, str | None] | None:
    row = db.execute(
        "SELECT claimed_at, fence, parked FROM mm_route_claims WHERE mm_thread = ?", (mm_thread,)
    ).fetchone()
    if row is None:
        return None
    return float(row[0]), int(row[1]), None if row[2] is None else str(row[2])


def _next_fence(db: sqlite3.Connection) -> int:
    """A token larger than every earlier one (AUTOINCREMENT never reuses a value); only the
    last row is kept."""
    fence = db.execute("INSERT INTO mm_route_fences DEFAULT VALUES").lastrowid
    assert fence is not None  # an INSERT always sets it
    db.execute("DELETE FROM mm_route_fences WHERE fence < ?", (fence,))
    return int(fence)
