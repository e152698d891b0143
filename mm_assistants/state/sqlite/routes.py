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

from mm_assistants.state.backoff import retry_delay
from mm_assistants.state.routes import (
    DEFAULT_LEASE,
    RECOVERED,
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
#: checkpoint (a version-1 file is upgraded in place; its claims get token 0). 3: messages a
#: claim took stay queued, marked ``taken``, until its run ends; the checkpoint a claim
#: resumes; attempts per thread; failed threads and the messages kept aside for them.
#: (``mm_route_backoff``, when a thread whose run raised is due again, is created in any
#: version-3 file that lacks it: a new table, nothing to convert.)
SCHEMA_VERSION = 3


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
        """Seen-check, then queue or claim, atomically (see `RouteStore.admit`); a claimed
        message is stored as taken by the new claim until its run ends."""
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
            fence = self._take(db, mm_thread, now)
            _enqueue(db, mm_thread, [message], taken=fence)
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
        """How many workers the thread's current work has lost."""
        with self._db.connection() as db:
            return _attempts(db, mm_thread)

    def fail(self, mm_thread: str, token: int, reason: str) -> bool:
        """End the thread's work as failed, its messages kept aside (see `RouteStore.fail`)."""
        with self._db.transaction() as db:
            held = _claim_row(db, mm_thread)
            if held is None or held[1] != token:
                return False
            db.execute(
                "INSERT INTO mm_route_failed VALUES (?, ?, ?) ON CONFLICT(mm_thread)"
                " DO UPDATE SET reason = excluded.reason, failed_at = excluded.failed_at",
                (mm_thread, reason, time.time()),
            )
            # the claim's messages only: mail queued since waits, and runs next
            db.execute(
                "INSERT INTO mm_route_failed_messages (mm_thread, email_id, text, received_at)"
                " SELECT mm_thread, email_id, text, received_at FROM mm_route_queue"
                " WHERE mm_thread = ? AND taken IS NOT NULL ORDER BY position, id",
                (mm_thread,),
            )
            db.execute(
                "DELETE FROM mm_route_queue WHERE mm_thread = ? AND taken IS NOT NULL",
                (mm_thread,),
            )
            for table in ("mm_route_claims", "mm_route_attempts", "mm_route_backoff"):
                db.execute(f"DELETE FROM {table} WHERE mm_thread = ?", (mm_thread,))
            return True

    def failed(self, *, limit: int = 100) -> list[FailedThread]:
        """Threads whose work failed, oldest first."""
        with self._db.connection() as db:
            heads = db.execute(
                "SELECT mm_thread, reason, failed_at FROM mm_route_failed"
                " ORDER BY failed_at, mm_thread LIMIT ?",
                (limit,),
            ).fetchall()
            found = []
            for mm_thread, reason, failed_at in heads:
                rows = db.execute(
                    "SELECT email_id, text, received_at FROM mm_route_failed_messages"
                    " WHERE mm_thread = ? ORDER BY id",
                    (mm_thread,),
                ).fetchall()
                kept = tuple(InboundMessage(str(r[0]), str(r[1]), float(r[2])) for r in rows)
                found.append(FailedThread(str(mm_thread), str(reason), float(failed_at), kept))
        return found

    def finish(self, mm_thread: str, *, token: int | None = None) -> list[InboundMessage]:
        """Take the queue, or drop the claim when it is empty (see `RouteStore.finish`);
        a parked claim stays, with its queue."""
        with self._db.transaction() as db:
            held = _claim_row(db, mm_thread)
            if held is not None and held[2] is not None:
                return []
            if token is not None and (held is None or held[1] != token):
                return []
            _done(db, mm_thread)
            fence = held[1] if held is not None else _next_fence(db)
            queued = _take_queue(db, mm_thread, fence)
            if queued:
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
            held = _claim_row(db, mm_thread)
            if token is not None and (held is None or held[1] != token):
                # taken over: a recovering claim gave the taken messages back already
                known = {
                    str(row[0])
                    for row in db.execute(
                        "SELECT email_id FROM mm_route_queue WHERE mm_thread = ?", (mm_thread,)
                    )
                }
                _give_back(db, mm_thread, [m for m in messages if m.email_id not in known])
                return
            # exactly ``messages`` go back, first; taken ones not among them were used up
            db.execute(
                "DELETE FROM mm_route_queue WHERE mm_thread = ? AND taken IS NOT NULL",
                (mm_thread,),
            )
            _give_back(db, mm_thread, messages)
            dropped = db.execute(
                "DELETE FROM mm_route_claims WHERE mm_thread = ? AND parked IS NULL",
                (mm_thread,),
            ).rowcount
            if token is not None and dropped:  # the holder's run raised: an attempt
                _count_attempt(db, mm_thread)
                due = time.time() + retry_delay(_attempts(db, mm_thread))
                db.execute(
                    "INSERT INTO mm_route_backoff VALUES (?, ?) ON CONFLICT(mm_thread)"
                    " DO UPDATE SET next_attempt_at = excluded.next_attempt_at",
                    (mm_thread, due),
                )

    def backing_off(self, mm_thread: str) -> float:
        """Seconds until the thread is due again after its run raised (0.0: due)."""
        with self._db.connection() as db:
            row = db.execute(
                "SELECT next_attempt_at FROM mm_route_backoff WHERE mm_thread = ?", (mm_thread,)
            ).fetchone()
        return 0.0 if row is None else max(0.0, float(row[0]) - time.time())

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
        """Keep the claim ``token`` without a lease (see `RouteStore.park`); the messages
        the run took are in its checkpoint now."""
        with self._db.transaction() as db:
            parked = db.execute(
                "UPDATE mm_route_claims SET parked = ?, resuming = NULL"
                " WHERE mm_thread = ? AND fence = ?",
                (checkpoint_id, mm_thread, token),
            ).rowcount
            if parked == 1:
                _done(db, mm_thread)
        return parked == 1

    def parked(self, mm_thread: str) -> str | None:
        """The checkpoint id of the thread's parked run (or of a resume whose claim
        lapsed: its resumer died), or ``None``."""
        with self._db.transaction() as db:
            held = _claim_row(db, mm_thread)
            return None if held is None else held[2] or self._lapsed_resume(db, mm_thread)

    def unpark(self, mm_thread: str, checkpoint_id: str) -> tuple[int, list[InboundMessage]] | None:
        """A fresh live claim and the queued messages, once (see `RouteStore.unpark`)."""
        with self._db.transaction() as db:
            held = _claim_row(db, mm_thread)
            lapsed = self._lapsed_resume(db, mm_thread)
            if held is None or checkpoint_id not in (held[2], lapsed):
                return None
            fence = self._take(db, mm_thread, time.time(), resuming=checkpoint_id, recover=True)
            return fence, _take_queue(db, mm_thread, fence)

    def stalled(self, limit: int | None = None) -> list[str]:
        """Threads with queued or taken messages and no live or parked claim, at most
        ``limit``, the longest waiting first (given-back messages are stored anew, so a
        thread whose run was just released comes after those queued before it, once its
        backoff ran out)."""
        now = time.time()
        with self._db.connection() as db:
            rows = db.execute(
                "SELECT q.mm_thread FROM mm_route_queue q LEFT JOIN mm_route_claims c"
                " ON c.mm_thread = q.mm_thread WHERE (c.mm_thread IS NULL"
                " OR (c.parked IS NULL AND c.claimed_at <= ?)) AND NOT EXISTS (SELECT 1 FROM"
                " mm_route_backoff b WHERE b.mm_thread = q.mm_thread AND b.next_attempt_at > ?)"
                " GROUP BY q.mm_thread ORDER BY MIN(q.id) LIMIT ?",
                (now - self.lease, now, -1 if limit is None else max(0, limit)),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def claim(self, mm_thread: str, *, recover: bool = False) -> ClaimedMessages | None:
        """Claim a stalled thread (see `RouteStore.claim`)."""
        with self._db.transaction() as db:
            now = time.time()
            if self._live(db, mm_thread, now) is not None:
                return None
            if self._lapsed_resume(db, mm_thread) is not None:
                return None  # a lapsed resume is taken again by unpark, never beside it
            fence = self._take(db, mm_thread, now, recover=recover)
            # a take-over runs the lost claim's messages alone: mail queued meanwhile
            # waits for the next run, and is never set aside with them (`fail`)
            recovered = db.execute(
                "SELECT 1 FROM mm_route_queue WHERE mm_thread = ? AND taken = ? LIMIT 1",
                (mm_thread, RECOVERED),
            ).fetchone()
            taken = _take_queue(db, mm_thread, fence, only_recovered=recovered is not None)
            return ClaimedMessages(taken, fence, _attempts(db, mm_thread))

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

    def _lapsed_resume(self, db: sqlite3.Connection, mm_thread: str) -> str | None:
        """The checkpoint a claim taken by `unpark` resumes, once that claim lapsed."""
        row = db.execute(
            "SELECT resuming FROM mm_route_claims WHERE mm_thread = ? AND parked IS NULL"
            " AND resuming IS NOT NULL AND claimed_at <= ?",
            (mm_thread, time.time() - self.lease),
        ).fetchone()
        return None if row is None else str(row[0])

    def _take(
        self,
        db: sqlite3.Connection,
        mm_thread: str,
        now: float,
        *,
        resuming: str | None = None,
        recover: bool = False,
    ) -> int:
        """A new claim. One that takes over a lapsed claim gives its taken messages back
        and counts an attempt (``recover``: its worker died), or else leaves them to the
        lapsed claim's holder (a router's take-over: that worker may still be running)."""
        held = _claim_row(db, mm_thread)
        if held is not None and held[2] is None and recover:  # callers checked: lapsed
            _count_attempt(db, mm_thread)
            db.execute(
                "UPDATE mm_route_queue SET taken = ? WHERE mm_thread = ? AND taken IS NOT NULL",
                (RECOVERED, mm_thread),
            )
        else:
            db.execute(
                "DELETE FROM mm_route_queue WHERE mm_thread = ? AND taken IS NOT NULL",
                (mm_thread,),
            )
        fence = _next_fence(db)
        _set_claim(db, mm_thread, now, fence, resuming=resuming)
        return fence


def _upgrade(db: sqlite3.Connection, found: int) -> None:
    if found == 1:  # version 1 claims had neither a token nor a park
        db.execute("ALTER TABLE mm_route_claims ADD COLUMN fence INTEGER NOT NULL DEFAULT 0")
        db.execute("ALTER TABLE mm_route_claims ADD COLUMN parked TEXT")
    if found in (1, 2):  # before version 3 a claim's messages left the queue when taken
        db.execute("ALTER TABLE mm_route_claims ADD COLUMN resuming TEXT")
        db.execute("ALTER TABLE mm_route_queue ADD COLUMN taken INTEGER")
    for statement in (
        "CREATE TABLE IF NOT EXISTS mm_route_links ("
        " mm_thread TEXT PRIMARY KEY, target TEXT NOT NULL, updated_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS mm_route_seen (key TEXT PRIMARY KEY, seen_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS mm_route_claims (mm_thread TEXT PRIMARY KEY,"
        " claimed_at REAL NOT NULL, fence INTEGER NOT NULL DEFAULT 0, parked TEXT,"
        " resuming TEXT)",
        "CREATE TABLE IF NOT EXISTS mm_route_fences (fence INTEGER PRIMARY KEY AUTOINCREMENT)",
        # taken: the token of the claim running the message (NULL: it waits)
        "CREATE TABLE IF NOT EXISTS mm_route_queue ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, mm_thread TEXT NOT NULL,"
        " position INTEGER NOT NULL, email_id TEXT NOT NULL, text TEXT NOT NULL,"
        " received_at REAL NOT NULL, taken INTEGER)",
        "CREATE INDEX IF NOT EXISTS mm_route_queue_thread ON mm_route_queue (mm_thread, position)",
        "CREATE TABLE IF NOT EXISTS mm_route_attempts ("
        " mm_thread TEXT PRIMARY KEY, attempts INTEGER NOT NULL)",
        # when a thread whose run raised is due again (retry_delay of its attempts)
        "CREATE TABLE IF NOT EXISTS mm_route_backoff ("
        " mm_thread TEXT PRIMARY KEY, next_attempt_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS mm_route_failed ("
        " mm_thread TEXT PRIMARY KEY, reason TEXT NOT NULL, failed_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS mm_route_failed_messages ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT, mm_thread TEXT NOT NULL,"
        " email_id TEXT NOT NULL, text TEXT NOT NULL, received_at REAL NOT NULL)",
    ):
        db.execute(statement)


def _insert(
    db: sqlite3.Connection,
    mm_thread: str,
    position: int,
    message: InboundMessage,
    taken: int | None = None,
) -> None:
    db.execute(
        "INSERT INTO mm_route_queue (mm_thread, position, email_id, text, received_at, taken)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (mm_thread, position, message.email_id, message.text, message.received_at, taken),
    )


def _enqueue(
    db: sqlite3.Connection,
    mm_thread: str,
    messages: list[InboundMessage],
    *,
    taken: int | None = None,
) -> None:
    last = db.execute(
        "SELECT COALESCE(MAX(position), 0) FROM mm_route_queue WHERE mm_thread = ?", (mm_thread,)
    ).fetchone()[0]
    for offset, message in enumerate(messages, start=1):
        _insert(db, mm_thread, last + offset, message, taken)


def _give_back(db: sqlite3.Connection, mm_thread: str, messages: list[InboundMessage]) -> None:
    """Put ``messages`` before everything queued (negative positions)."""
    first = db.execute(
        "SELECT COALESCE(MIN(position), 0) FROM mm_route_queue WHERE mm_thread = ?",
        (mm_thread,),
    ).fetchone()[0]
    for offset, message in enumerate(reversed(messages), start=1):
        _insert(db, mm_thread, first - offset, message)


def _take_queue(
    db: sqlite3.Connection, mm_thread: str, fence: int, *, only_recovered: bool = False
) -> list[InboundMessage]:
    """The waiting and recovered messages (``only_recovered``: those alone), marked taken
    by the claim ``fence`` (kept until its run ends)."""
    which = "taken = ?" if only_recovered else "(taken IS NULL OR taken = ?)"
    rows = db.execute(
        "SELECT email_id, text, received_at FROM mm_route_queue"
        f" WHERE mm_thread = ? AND {which} ORDER BY position, id",
        (mm_thread, RECOVERED),
    ).fetchall()
    db.execute(
        f"UPDATE mm_route_queue SET taken = ? WHERE mm_thread = ? AND {which}",
        (fence, mm_thread, RECOVERED),
    )
    return [InboundMessage(str(r[0]), str(r[1]), float(r[2])) for r in rows]


def _done(db: sqlite3.Connection, mm_thread: str) -> None:
    """The claim's run is over (finished or parked): its taken messages are gone, and so
    is the count of workers lost on it."""
    db.execute("DELETE FROM mm_route_queue WHERE mm_thread = ? AND taken IS NOT NULL", (mm_thread,))
    db.execute("DELETE FROM mm_route_attempts WHERE mm_thread = ?", (mm_thread,))
    db.execute("DELETE FROM mm_route_backoff WHERE mm_thread = ?", (mm_thread,))


def _count_attempt(db: sqlite3.Connection, mm_thread: str) -> None:
    db.execute(
        "INSERT INTO mm_route_attempts VALUES (?, 1) ON CONFLICT(mm_thread)"
        " DO UPDATE SET attempts = attempts + 1",
        (mm_thread,),
    )


def _attempts(db: sqlite3.Connection, mm_thread: str) -> int:
    row = db.execute(
        "SELECT attempts FROM mm_route_attempts WHERE mm_thread = ?", (mm_thread,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def _set_claim(
    db: sqlite3.Connection, mm_thread: str, now: float, fence: int, *, resuming: str | None = None
) -> None:
    db.execute(
        "INSERT OR REPLACE INTO mm_route_claims (mm_thread, claimed_at, fence, parked, resuming)"
        " VALUES (?, ?, ?, NULL, ?)",
        (mm_thread, now, fence, resuming),
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
