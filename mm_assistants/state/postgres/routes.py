"""`PostgresRouteStore`: the inbound router's links, seen deliveries, claims and queues in
PostgreSQL, shared by every process of a fleet.

A thread's claim is *waited for*, never skipped: `admit`, `claim`, `finish`, `release` and
`unpark` first make sure the thread's row exists (``INSERT ... ON CONFLICT DO NOTHING``),
then lock it (``SELECT ... FOR UPDATE``), so of two deliveries for one new thread the second
waits for the first to commit and then queues behind its claim. `set_target` with a token
locks the row of that claim the same way, so a take-over waits for the write. ``SKIP
LOCKED`` is used only by `stalled`, which picks work and must not wait behind a thread
being claimed right now.

Claims last ``lease`` seconds from the database's ``now()`` and carry a fencing token from
the ``mm_fence`` sequence (never handed out twice); every write of a claim's holder names
its token (``WHERE fence = %s``). Seen delivery keys are kept ``seen_retention`` seconds,
and deleted now and then.
"""

from __future__ import annotations

from typing import Any

from mm_assistants.state.postgres.connection import PostgresDatabase, database
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

#: How long a delivery key is remembered: far longer than MultiMail retries a webhook.
DEFAULT_SEEN_RETENTION = 30 * 24 * 3600.0
_PRUNE_EVERY = 256  # seen-key writes between two deletions of expired keys
_SECONDS = "%s * interval '1 second'"
_HELD = "(claimed_until IS NOT NULL OR parked IS NOT NULL)"  # a claim exists (maybe lapsed)


class PostgresRouteStore:
    """A `RouteStore` in PostgreSQL (``str`` DSN, or a `PostgresDatabase` to share its pool).

    Example::

        router = InboundRouter(openai, dispatcher, assistant_id="asst_1",
                               store=PostgresRouteStore(os.environ["MM_ASSISTANTS_DSN"]))
    """

    def __init__(
        self,
        dsn: str | PostgresDatabase,
        *,
        lease: float = DEFAULT_LEASE,
        seen_retention: float = DEFAULT_SEEN_RETENTION,
    ) -> None:
        self.lease = check_lease(lease)
        try:
            self.seen_retention = check_lease(seen_retention)
        except ValueError:
            raise ValueError(
                "seen_retention is a number of seconds and must be positive,"
                f" not {seen_retention!r}"
            ) from None
        self.database = database(dsn)
        self._owned = not isinstance(dsn, PostgresDatabase)
        self._writes = 0

    def __repr__(self) -> str:
        return f"PostgresRouteStore({self.database.where!r}, lease={self.lease})"

    def target(self, mm_thread: str) -> str | None:
        """Where ``mm_thread`` continues, or ``None``."""
        with self.database.connection() as conn:
            row = conn.execute(
                "SELECT target FROM mm_route_targets WHERE mm_thread = %s", (mm_thread,)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_target(self, mm_thread: str, target: str, *, token: int | None = None) -> bool:
        """Remember where ``mm_thread`` continues (see `RouteStore.set_target`); with
        ``token`` the thread's row is locked first, so a take-over waits for this write."""
        with self.database.transaction() as conn:
            if token is not None:
                held = conn.execute(
                    "SELECT 1 FROM mm_route_threads"
                    f" WHERE mm_thread = %s AND fence = %s AND {_HELD} FOR UPDATE",
                    (mm_thread, token),
                ).fetchone()
                if held is None:
                    return False
            conn.execute(
                "INSERT INTO mm_route_targets (mm_thread, target) VALUES (%s, %s)"
                " ON CONFLICT (mm_thread) DO UPDATE SET target = excluded.target",
                (mm_thread, target),
            )
            return True

    def seen(self, key: str) -> bool:
        """Whether the delivery ``key`` was admitted or held within the retention."""
        with self.database.connection() as conn:
            row = conn.execute(
                f"SELECT 1 FROM mm_route_seen WHERE key = %s AND seen_at > now() - {_SECONDS}",
                (key, self.seen_retention),
            ).fetchone()
        return row is not None

    def mark_seen(self, key: str) -> None:
        """Remember the delivery ``key`` without queueing anything."""
        with self.database.transaction() as conn:
            self._remember(conn, key)
        self._prune()

    def admit(self, key: str, mm_thread: str, message: InboundMessage) -> Admission:
        """Seen-check, then queue or claim, atomically (see `RouteStore.admit`)."""
        with self.database.transaction() as conn:
            if not self._remember(conn, key):
                outcome: Admission = "duplicate"
            elif _lock(conn, mm_thread).live:
                _enqueue(conn, mm_thread, [message], at_head=False)
                outcome = "queued"
            else:
                outcome = Claimed(self._take(conn, mm_thread))
        self._prune()
        return outcome

    def enqueue(self, key: str, mm_thread: str, message: InboundMessage) -> Enqueued:
        """Seen-check and queue in one transaction, never claiming (see
        `RouteStore.enqueue`)."""
        with self.database.transaction() as conn:
            if not self._remember(conn, key):
                outcome: Enqueued = "duplicate"
            else:
                _lock(conn, mm_thread)  # positions are read and written under the row lock
                _enqueue(conn, mm_thread, [message], at_head=False)
                outcome = "queued"
        self._prune()
        return outcome

    def attempts(self, mm_thread: str) -> int:
        """Not counted by this backend yet (issue 16: memory only): always 0."""
        return 0

    def fail(self, mm_thread: str, token: int, reason: str) -> bool:
        """Not available on this backend yet (issue 16: memory only)."""
        raise NotImplementedError("RouteStore.fail: PostgreSQL support is not written yet")

    def failed(self, *, limit: int = 100) -> list[FailedThread]:
        """Not available on this backend yet (issue 16: memory only)."""
        raise NotImplementedError("RouteStore.failed: PostgreSQL support is not written yet")

    def finish(self, mm_thread: str, *, token: int | None = None) -> list[InboundMessage]:
        """Take the queue, or drop the claim when it is empty (see `RouteStore.finish`);
        a parked claim stays, with its queue."""
        with self.database.transaction() as conn:
            row = _lock(conn, mm_thread)
            if row.parked is not None:
                return []
            if token is not None and not (row.held and row.fence == token):
                return []
            queued = _take_queue(conn, mm_thread)
            if queued and row.held:  # the same worker runs again: same token, new lease
                conn.execute(
                    f"UPDATE mm_route_threads SET claimed_until = now() + {_SECONDS}"
                    " WHERE mm_thread = %s",
                    (self.lease, mm_thread),
                )
            elif queued:
                self._take(conn, mm_thread)
            else:
                _drop(conn, mm_thread)
            return queued

    def release(
        self, mm_thread: str, messages: list[InboundMessage], *, token: int | None = None
    ) -> None:
        """Put ``messages`` back first and drop the claim (see `RouteStore.release`); a
        parked claim or another's claim stays."""
        with self.database.transaction() as conn:
            row = _lock(conn, mm_thread)
            _enqueue(conn, mm_thread, messages, at_head=True)
            if row.parked is None and (token is None or row.fence == token):
                _drop(conn, mm_thread)

    def token(self, mm_thread: str) -> int | None:
        """The fencing token of the thread's live or parked claim, or ``None``."""
        with self.database.connection() as conn:
            row = conn.execute(
                "SELECT fence FROM mm_route_threads WHERE mm_thread = %s"
                " AND (parked IS NOT NULL OR claimed_until > now())",
                (mm_thread,),
            ).fetchone()
        return None if row is None else int(row[0])

    def heartbeat(self, mm_thread: str, token: int) -> bool:
        """Renew the claim ``token`` (see `RouteStore.heartbeat`); a parked one needs none."""
        with self.database.connection() as conn:
            renewed = conn.execute(
                "UPDATE mm_route_threads SET claimed_until = CASE WHEN parked IS NULL"
                f" THEN now() + {_SECONDS} ELSE claimed_until END"
                f" WHERE mm_thread = %s AND fence = %s AND {_HELD}",
                (self.lease, mm_thread, token),
            ).rowcount
        return bool(renewed == 1)

    def park(self, mm_thread: str, token: int, checkpoint_id: str) -> bool:
        """Keep the claim ``token`` without a lease (see `RouteStore.park`)."""
        with self.database.connection() as conn:
            parked = conn.execute(
                "UPDATE mm_route_threads SET parked = %s"
                f" WHERE mm_thread = %s AND fence = %s AND {_HELD}",
                (checkpoint_id, mm_thread, token),
            ).rowcount
        return bool(parked == 1)

    def parked(self, mm_thread: str) -> str | None:
        """The checkpoint id of the thread's parked run, or ``None``."""
        with self.database.connection() as conn:
            row = conn.execute(
                "SELECT parked FROM mm_route_threads WHERE mm_thread = %s", (mm_thread,)
            ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def unpark(self, mm_thread: str, checkpoint_id: str) -> tuple[int, list[InboundMessage]] | None:
        """A fresh live claim and the queued messages, once (see `RouteStore.unpark`)."""
        with self.database.transaction() as conn:
            if _lock(conn, mm_thread).parked != checkpoint_id:
                return None
            return self._take(conn, mm_thread), _take_queue(conn, mm_thread)

    def stalled(self) -> list[str]:
        """Threads with queued messages and no live or parked claim, oldest queue first;
        a thread another process is claiming right now is skipped, not waited for."""
        with self.database.transaction() as conn:
            rows = conn.execute(
                "SELECT mm_thread FROM mm_route_threads WHERE queued_at IS NOT NULL"
                " AND parked IS NULL AND (claimed_until IS NULL OR claimed_until <= now())"
                " ORDER BY queued_at FOR UPDATE SKIP LOCKED"
            ).fetchall()
        return [str(row[0]) for row in rows]

    def claim(self, mm_thread: str, *, recover: bool = False) -> ClaimedMessages | None:
        """Claim a stalled thread: its queued messages with the new claim's token, or
        ``None`` if it is claimed (``recover`` is not honoured by this backend yet: a
        lapsed claim's messages stay lost with its worker)."""
        with self.database.transaction() as conn:
            if _lock(conn, mm_thread).live:
                return None
            fence = self._take(conn, mm_thread)
            return ClaimedMessages(_take_queue(conn, mm_thread), fence)

    def close(self) -> None:
        """Close the pool this store opened from a DSN (a given `PostgresDatabase` is the
        caller's to close)."""
        if self._owned:
            self.database.close()

    def _remember(self, conn: Any, key: str) -> bool:
        """Record ``key`` as seen now; False when it was seen within the retention."""
        self._writes += 1
        # a key older than the retention counts as new (as if it had been pruned)
        changed = conn.execute(
            "INSERT INTO mm_route_seen (key) VALUES (%s) ON CONFLICT (key) DO UPDATE"
            f" SET seen_at = now() WHERE mm_route_seen.seen_at <= now() - {_SECONDS}",
            (key, self.seen_retention),
        ).rowcount
        return bool(changed == 1)

    def _take(self, conn: Any, mm_thread: str) -> int:
        """A new claim with a new token on the locked row of ``mm_thread``."""
        row = conn.execute(
            "UPDATE mm_route_threads SET fence = nextval('mm_fence'),"
            f" claimed_until = now() + {_SECONDS}, parked = NULL"
            " WHERE mm_thread = %s RETURNING fence",
            (self.lease, mm_thread),
        ).fetchone()
        return int(row[0])

    def _prune(self) -> None:
        if self._writes % _PRUNE_EVERY != 1:
            return
        with self.database.connection() as conn:
            conn.execute(
                f"DELETE FROM mm_route_seen WHERE seen_at <= now() - {_SECONDS}",
                (self.seen_retention,),
            )


class _Row:
    """The locked thread row, as the calls above need it."""

    def __init__(self, fence: int, held: bool, live: bool, parked: str | None) -> None:
        self.fence, self.held, self.live, self.parked = fence, held, live, parked


def _lock(conn: Any, mm_thread: str) -> _Row:
    """Lock the row of ``mm_thread`` (created when missing), waiting for another claimer."""
    conn.execute(
        "INSERT INTO mm_route_threads (mm_thread) VALUES (%s) ON CONFLICT DO NOTHING",
        (mm_thread,),
    )
    fence, held, live, parked = conn.execute(
        f"SELECT fence, {_HELD}, parked IS NOT NULL OR claimed_until > now(), parked"
        " FROM mm_route_threads WHERE mm_thread = %s FOR UPDATE",
        (mm_thread,),
    ).fetchone()
    return _Row(int(fence), bool(held), bool(live), None if parked is None else str(parked))


def _drop(conn: Any, mm_thread: str) -> None:
    conn.execute(
        "UPDATE mm_route_threads SET claimed_until = NULL, parked = NULL WHERE mm_thread = %s",
        (mm_thread,),
    )


def _enqueue(conn: Any, mm_thread: str, messages: list[InboundMessage], *, at_head: bool) -> None:
    """Add ``messages`` after the queue, or before it (given back after a failure)."""
    if not messages:
        return
    if at_head:
        edge = conn.execute(
            "SELECT COALESCE(MIN(position), 0) FROM mm_route_queue WHERE mm_thread = %s",
            (mm_thread,),
        ).fetchone()[0]
        positions = [int(edge) - len(messages) + n for n in range(len(messages))]
    else:
        edge = conn.execute(
            "SELECT COALESCE(MAX(position), 0) FROM mm_route_queue WHERE mm_thread = %s",
            (mm_thread,),
        ).fetchone()[0]
        positions = [int(edge) + 1 + n for n in range(len(messages))]
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO mm_route_queue (mm_thread, position, email_id, body, received_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            [
                (mm_thread, position, m.email_id, m.text, m.received_at)
                for position, m in zip(positions, messages, strict=True)
            ],
        )
    conn.execute(
        "UPDATE mm_route_threads SET queued_at = COALESCE(queued_at, now()) WHERE mm_thread = %s",
        (mm_thread,),
    )


def _take_queue(conn: Any, mm_thread: str) -> list[InboundMessage]:
    rows = conn.execute(
        "DELETE FROM mm_route_queue WHERE mm_thread = %s"
        " RETURNING position, id, email_id, body, received_at",
        (mm_thread,),
    ).fetchall()
    conn.execute("UPDATE mm_route_threads SET queued_at = NULL WHERE mm_thread = %s", (mm_thread,))
    rows.sort(key=lambda row: (row[0], row[1]))
    return [InboundMessage(str(r[2]), str(r[3]), float(r[4])) for r in rows]
