"""Where `InboundRouter` remembers threads, deliveries it has seen, and queued messages.

Three facts per MultiMail thread: the OpenAI side it maps to (an Assistants thread id, or
the last response id of a Responses chain), whether a run is driving it now (a *claim*),
and the messages that arrived meanwhile (the *queue*). Each change that must not race is
one atomic call: `admit` (seen-check, then queue or claim), `finish` (take the queue, or
drop the claim when it is empty) and `release` (give messages back after a failure).

A claim older than ``lease`` seconds counts as abandoned (its worker died), so a restarted
router picks the thread up again with `stalled`. `MemoryRouteStore` lasts as long as the
process; `SQLiteRouteStore` survives restarts and can be shared by the workers of one host.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Admission = Literal["duplicate", "queued", "claimed"]
#: How long a claim lasts before it is taken for abandoned (runs wait up to ~10 minutes).
DEFAULT_LEASE = 900.0
#: How many delivery keys the memory store remembers.
DEFAULT_SEEN_LIMIT = 100_000


@dataclass(frozen=True)
class InboundMessage:
    """One inbound email as it will be posted to the model."""

    email_id: str
    text: str
    received_at: float = field(default_factory=time.time)


class RouteStore(Protocol):
    """The router's memory; see the module docstring for the meaning of each call."""

    def target(self, mm_thread: str) -> str | None:
        """The OpenAI thread id / last response id of ``mm_thread``, or ``None``."""

    def set_target(self, mm_thread: str, target: str) -> None:
        """Remember where ``mm_thread`` continues."""

    def seen(self, key: str) -> bool:
        """Whether the delivery ``key`` was admitted or held before."""

    def mark_seen(self, key: str) -> None:
        """Remember the delivery ``key`` without queueing anything (a held email)."""

    def admit(self, key: str, mm_thread: str, message: InboundMessage) -> Admission:
        """Atomically: ``duplicate`` if ``key`` was seen; else remember it and either queue
        ``message`` behind a live claim (``queued``) or claim the thread (``claimed``, and
        the caller now owns ``message``)."""

    def finish(self, mm_thread: str) -> list[InboundMessage]:
        """The run on ``mm_thread`` ended: take its queued messages (the claim stays, and
        the caller runs again), or drop the claim when nothing is queued."""

    def release(self, mm_thread: str, messages: list[InboundMessage]) -> None:
        """A run failed: put ``messages`` back at the head of the queue, drop the claim."""

    def stalled(self) -> list[str]:
        """Threads with queued messages and no live claim (after a failure or restart)."""

    def claim(self, mm_thread: str) -> list[InboundMessage] | None:
        """Claim a stalled thread: its queued messages, or ``None`` if it is claimed."""


class MemoryRouteStore:
    """A `RouteStore` in memory (gone when the process ends)."""

    def __init__(
        self, *, lease: float = DEFAULT_LEASE, seen_limit: int = DEFAULT_SEEN_LIMIT
    ) -> None:
        _check_lease(lease)
        self.lease = lease
        self._lock = threading.Lock()
        self._targets: dict[str, str] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_limit = seen_limit
        self._claims: dict[str, float] = {}
        self._queues: dict[str, list[InboundMessage]] = {}

    def __repr__(self) -> str:
        return f"MemoryRouteStore(threads={len(self._targets)}, claimed={len(self._claims)})"

    def target(self, mm_thread: str) -> str | None:
        with self._lock:
            return self._targets.get(mm_thread)

    def set_target(self, mm_thread: str, target: str) -> None:
        with self._lock:
            self._targets[mm_thread] = target

    def seen(self, key: str) -> bool:
        with self._lock:
            return key in self._seen

    def mark_seen(self, key: str) -> None:
        with self._lock:
            self._remember(key)

    def admit(self, key: str, mm_thread: str, message: InboundMessage) -> Admission:
        with self._lock:
            if key in self._seen:
                return "duplicate"
            self._remember(key)
            if self._live(mm_thread):
                self._queues.setdefault(mm_thread, []).append(message)
                return "queued"
            self._claims[mm_thread] = time.time()
            return "claimed"

    def finish(self, mm_thread: str) -> list[InboundMessage]:
        with self._lock:
            queued = self._queues.pop(mm_thread, [])
            if queued:
                self._claims[mm_thread] = time.time()
            else:
                self._claims.pop(mm_thread, None)
            return queued

    def release(self, mm_thread: str, messages: list[InboundMessage]) -> None:
        with self._lock:
            self._queues[mm_thread] = [*messages, *self._queues.get(mm_thread, [])]
            if not self._queues[mm_thread]:
                del self._queues[mm_thread]
            self._claims.pop(mm_thread, None)

    def stalled(self) -> list[str]:
        with self._lock:
            return [thread for thread in self._queues if not self._live(thread)]

    def claim(self, mm_thread: str) -> list[InboundMessage] | None:
        with self._lock:
            if self._live(mm_thread):
                return None
            self._claims[mm_thread] = time.time()
            return self._queues.pop(mm_thread, [])

    def _live(self, mm_thread: str) -> bool:
        claimed = self._claims.get(mm_thread)
        return claimed is not None and time.time() - claimed < self.lease

    def _remember(self, key: str) -> None:
        self._seen[key] = None
        while len(self._seen) > self._seen_limit:
            self._seen.popitem(last=False)


class SQLiteRouteStore:
    """A `RouteStore` in a SQLite file: links, seen deliveries and queues survive restarts."""

    def __init__(self, path: str | Path, *, lease: float = DEFAULT_LEASE) -> None:
        _check_lease(lease)
        self.path = str(path)
        self.lease = lease
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        for statement in _SCHEMA:
            self._db.execute(statement)

    def __repr__(self) -> str:
        return f"SQLiteRouteStore({self.path!r})"

    def target(self, mm_thread: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT target FROM mm_route_links WHERE mm_thread = ?", (mm_thread,)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_target(self, mm_thread: str, target: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO mm_route_links VALUES (?, ?, ?) ON CONFLICT(mm_thread)"
                " DO UPDATE SET target = excluded.target, updated_at = excluded.updated_at",
                (mm_thread, target, time.time()),
            )

    def seen(self, key: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM mm_route_seen WHERE key = ?", (key,))
            return row.fetchone() is not None

    def mark_seen(self, key: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO mm_route_seen VALUES (?, ?)", (key, time.time())
            )

    def admit(self, key: str, mm_thread: str, message: InboundMessage) -> Admission:
        with self._transaction() as db:
            now = time.time()
            if (
                db.execute("INSERT OR IGNORE INTO mm_route_seen VALUES (?, ?)", (key, now)).rowcount
                == 0
            ):
                return "duplicate"
            if self._live(db, mm_thread, now):
                _enqueue(db, mm_thread, [message], now)
                return "queued"
            _set_claim(db, mm_thread, now)
            return "claimed"

    def finish(self, mm_thread: str) -> list[InboundMessage]:
        with self._transaction() as db:
            queued = _take_queue(db, mm_thread)
            if queued:
                _set_claim(db, mm_thread, time.time())
            else:
                db.execute("DELETE FROM mm_route_claims WHERE mm_thread = ?", (mm_thread,))
            return queued

    def release(self, mm_thread: str, messages: list[InboundMessage]) -> None:
        with self._transaction() as db:
            # Given-back messages go before the ones queued meanwhile: negative positions.
            first = db.execute(
                "SELECT COALESCE(MIN(position), 0) FROM mm_route_queue WHERE mm_thread = ?",
                (mm_thread,),
            ).fetchone()[0]
            for offset, message in enumerate(reversed(messages), start=1):
                db.execute(
                    "INSERT INTO mm_route_queue (mm_thread, position, email_id, text, received_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        mm_thread,
                        first - offset,
                        message.email_id,
                        message.text,
                        message.received_at,
                    ),
                )
            db.execute("DELETE FROM mm_route_claims WHERE mm_thread = ?", (mm_thread,))

    def stalled(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT q.mm_thread FROM mm_route_queue q LEFT JOIN mm_route_claims c"
                " ON c.mm_thread = q.mm_thread WHERE c.claimed_at IS NULL OR c.claimed_at < ?",
                (time.time() - self.lease,),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def claim(self, mm_thread: str) -> list[InboundMessage] | None:
        with self._transaction() as db:
            now = time.time()
            if self._live(db, mm_thread, now):
                return None
            _set_claim(db, mm_thread, now)
            return _take_queue(db, mm_thread)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _live(self, db: sqlite3.Connection, mm_thread: str, now: float) -> bool:
        row = db.execute(
            "SELECT claimed_at FROM mm_route_claims WHERE mm_thread = ?", (mm_thread,)
        ).fetchone()
        return row is not None and now - float(row[0]) < self.lease

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock first, so two workers sharing the file
        # cannot both claim one thread.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS mm_route_links ("
    " mm_thread TEXT PRIMARY KEY, target TEXT NOT NULL, updated_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS mm_route_seen (key TEXT PRIMARY KEY, seen_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS mm_route_claims ("
    " mm_thread TEXT PRIMARY KEY, claimed_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS mm_route_queue ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, mm_thread TEXT NOT NULL, position INTEGER NOT NULL,"
    " email_id TEXT NOT NULL, text TEXT NOT NULL, received_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS mm_route_queue_thread ON mm_route_queue (mm_thread, position)",
)


def _enqueue(
    db: sqlite3.Connection, mm_thread: str, messages: list[InboundMessage], now: float
) -> None:
    last = db.execute(
        "SELECT COALESCE(MAX(position), 0) FROM mm_route_queue WHERE mm_thread = ?", (mm_thread,)
    ).fetchone()[0]
    for offset, message in enumerate(messages, start=1):
        db.execute(
            "INSERT INTO mm_route_queue (mm_thread, position, email_id, text, received_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (mm_thread, last + offset, message.email_id, message.text, message.received_at),
        )


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


def _check_lease(lease: float) -> None:
    if not lease > 0:
        raise ValueError(f"lease is a number of seconds and must be positive, not {lease!r}")


def open_route_store(store: RouteStore | str | Path | None) -> RouteStore:
    """A store from what a user passes: a store, a SQLite path, or ``None`` (memory)."""
    if store is None:
        return MemoryRouteStore()
    if isinstance(store, (str, Path)):
        return SQLiteRouteStore(store)
    return store


__all__ = [
    "Admission",
    "InboundMessage",
    "MemoryRouteStore",
    "RouteStore",
    "SQLiteRouteStore",
    "open_route_store",
]
