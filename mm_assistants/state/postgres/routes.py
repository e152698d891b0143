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

The messages a claim takes stay in ``mm_route_queue`` with ``taken`` set to its token until
its run finishes, parks or gives them back; ``mm_route_threads.queued_at`` is set while a
thread has any rows there, so a lapsed claim's taken rows make the thread stalled. Failed
threads and the messages kept aside for them are in ``mm_route_failed`` and
``mm_route_failed_messages``.
"""

from __future__ import annotations

from typing import Any

from mm_assistants.state.backoff import retry_delay
from mm_assistants.state.postgres.connection import PostgresDatabase, database
from mm_assistants.state.postgres.route_queue import (
    HELD,
    LAPSED_RESUME,
    Row,
    done,
    drop,
    enqueue,
    failed_threads,
    lock,
    mark_queue,
    set_aside,
    take_queue,
    waiting,
)
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

#: How long a delivery key is remembered: far longer than MultiMail retries a webhook.
DEFAULT_SEEN_RETENTION = 30 * 24 * 3600.0
_PRUNE_EVERY = 256  # seen-key writes between two deletions of expired keys
_SECONDS = "%s * interval '1 second'"


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
                    f" WHERE mm_thread = %s AND fence = %s AND {HELD} FOR UPDATE",
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
        """Seen-check, then queue or claim, atomically (see `RouteStore.admit`); a claimed
        message is stored as taken by the new claim until its run ends."""
        with self.database.transaction() as conn:
            row = None if not self._remember(conn, key) else lock(conn, mm_thread)
            if row is None:
                outcome: Admission = "duplicate"
            elif row.live:
                enqueue(conn, mm_thread, [message], at_head=False)
                outcome = "queued"
            else:
                fence = self._take(conn, mm_thread, row)
                enqueue(conn, mm_thread, [message], at_head=False, taken=fence)
                outcome = Claimed(fence)
        self._prune()
        return outcome

    def enqueue(self, key: str, mm_thread: str, message: InboundMessage) -> Enqueued:
        """Seen-check and queue in one transaction, never claiming (see
        `RouteStore.enqueue`)."""
        with self.database.transaction() as conn:
            if not self._remember(conn, key):
                outcome: Enqueued = "duplicate"
            else:
                lock(conn, mm_thread)  # positions are read and written under the row lock
                enqueue(conn, mm_thread, [message], at_head=False)
                outcome = "queued"
        self._prune()
        return outcome

    def attempts(self, mm_thread: str) -> int:
        """How many workers the thread's current work has lost."""
        with self.database.connection() as conn:
            row = conn.execute(
                "SELECT attempts FROM mm_route_threads WHERE mm_thread = %s", (mm_thread,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def fail(self, mm_thread: str, token: int, reason: str) -> bool:
        """End the thread's work as failed, its messages kept aside (see `RouteStore.fail`)."""
        with self.database.transaction() as conn:
            row = lock(conn, mm_thread)
            if not (row.held and row.fence == token):
                return False
            set_aside(conn, mm_thread, reason)
            mark_queue(conn, mm_thread)
            return True

    def failed(self, *, limit: int = 100) -> list[FailedThread]:
        """Threads whose work failed, oldest first."""
        with self.database.connection() as conn:
            return failed_threads(conn, limit)

    def finish(self, mm_thread: str, *, token: int | None = None) -> list[InboundMessage]:
        """Take the queue, or drop the claim when it is empty (see `RouteStore.finish`);
        a parked claim stays, with its queue."""
        with self.database.transaction() as conn:
            row = lock(conn, mm_thread)
            if row.parked is not None:
                return []
            if token is not None and not (row.held and row.fence == token):
                return []
            done(conn, mm_thread)
            if not row.held:
                if not waiting(conn, mm_thread):
                    return []
                return take_queue(conn, mm_thread, self._take(conn, mm_thread, row))
            queued = take_queue(conn, mm_thread, row.fence)
            if queued:  # the same worker runs again: same token, new lease
                conn.execute(
                    f"UPDATE mm_route_threads SET claimed_until = now() + {_SECONDS},"
                    " resuming = NULL WHERE mm_thread = %s",
                    (self.lease, mm_thread),
                )
            else:
                drop(conn, mm_thread)
            return queued

    def release(
        self, mm_thread: str, messages: list[InboundMessage], *, token: int | None = None
    ) -> None:
        """Put ``messages`` back first and drop the claim (see `RouteStore.release`); a
        parked claim or another's claim stays."""
        with self.database.transaction() as conn:
            row = lock(conn, mm_thread)
            if token is not None and not (row.held and row.fence == token):
                # taken over: a recovering claim gave the taken messages back already
                known = {
                    str(found[0])
                    for found in conn.execute(
                        "SELECT email_id FROM mm_route_queue WHERE mm_thread = %s", (mm_thread,)
                    ).fetchall()
                }
                back = [m for m in messages if m.email_id not in known]
                enqueue(conn, mm_thread, back, at_head=True)
                return
            # exactly ``messages`` go back, first; taken ones not among them were used up
            conn.execute(
                "DELETE FROM mm_route_queue WHERE mm_thread = %s AND taken IS NOT NULL",
                (mm_thread,),
            )
            enqueue(conn, mm_thread, messages, at_head=True)
            if row.parked is None:
                drop(conn, mm_thread)
                if token is not None and row.held:
                    # the holder's run raised: an attempt, to the back of stalled(), and
                    # not due again before its backoff (the database's clock)
                    attempts = conn.execute(
                        "UPDATE mm_route_threads SET attempts = attempts + 1, queued_at = now()"
                        " WHERE mm_thread = %s RETURNING attempts",
                        (mm_thread,),
                    ).fetchone()[0]
                    conn.execute(
                        f"UPDATE mm_route_threads SET next_attempt_at = now() + {_SECONDS}"
                        " WHERE mm_thread = %s",
                        (retry_delay(int(attempts)), mm_thread),
                    )
            mark_queue(conn, mm_thread)

    def backing_off(self, mm_thread: str) -> float:
        """Seconds until the thread is due again after its run raised (0.0: due), by the
        database's clock."""
        with self.database.connection() as conn:
            row = conn.execute(
                "SELECT GREATEST(0, extract(epoch FROM next_attempt_at - now()))::float8"
                " FROM mm_route_threads WHERE mm_thread = %s AND next_attempt_at > now()",
                (mm_thread,),
            ).fetchone()
        return 0.0 if row is None else float(row[0])

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
                f" WHERE mm_thread = %s AND fence = %s AND {HELD}",
                (self.lease, mm_thread, token),
            ).rowcount
        return bool(renewed == 1)

    def park(self, mm_thread: str, token: int, checkpoint_id: str) -> bool:
        """Keep the claim ``token`` without a lease (see `RouteStore.park`); the messages
        the run took are in its checkpoint now."""
        with self.database.transaction() as conn:
            parked = conn.execute(
                "UPDATE mm_route_threads SET parked = %s, resuming = NULL"
                f" WHERE mm_thread = %s AND fence = %s AND {HELD}",
                (checkpoint_id, mm_thread, token),
            ).rowcount
            if parked == 1:
                done(conn, mm_thread)
        return bool(parked == 1)

    def parked(self, mm_thread: str) -> str | None:
        """The checkpoint id of the thread's parked run (or of a resume whose claim
        lapsed: its resumer died), or ``None``."""
        with self.database.connection() as conn:
            row = conn.execute(
                f"SELECT COALESCE(parked, {LAPSED_RESUME}) FROM mm_route_threads"
                " WHERE mm_thread = %s",
                (mm_thread,),
            ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def unpark(self, mm_thread: str, checkpoint_id: str) -> tuple[int, list[InboundMessage]] | None:
        """A fresh live claim and the queued messages, once (see `RouteStore.unpark`)."""
        with self.database.transaction() as conn:
            row = lock(conn, mm_thread)
            if checkpoint_id not in (row.parked, row.lapsed_resume):
                return None
            fence = self._take(conn, mm_thread, row, resuming=checkpoint_id, recover=True)
            return fence, take_queue(conn, mm_thread, fence)

    def stalled(self, limit: int | None = None) -> list[str]:
        """Threads with queued or taken messages and no live or parked claim, oldest queue
        first (a released run's thread queues anew, behind the others, and is skipped until
        its backoff ran out), at most ``limit``; a thread another process is claiming right
        now is skipped, not waited for."""
        with self.database.transaction() as conn:
            rows = conn.execute(
                "SELECT mm_thread FROM mm_route_threads WHERE queued_at IS NOT NULL"
                " AND parked IS NULL AND (claimed_until IS NULL OR claimed_until <= now())"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
                " ORDER BY queued_at, mm_thread LIMIT %s FOR UPDATE SKIP LOCKED",
                (None if limit is None else max(0, limit),),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def claim(self, mm_thread: str, *, recover: bool = False) -> ClaimedMessages | None:
        """Claim a stalled thread (see `RouteStore.claim`)."""
        with self.database.transaction() as conn:
            row = lock(conn, mm_thread)
            if row.live or row.lapsed_resume is not None:
                return None  # a lapsed resume is taken again by unpark, never beside it
            fence = self._take(conn, mm_thread, row, recover=recover)
            # a take-over runs the lost claim's messages alone: mail queued meanwhile
            # waits for the next run, and is never set aside with them (`fail`)
            recovered = conn.execute(
                "SELECT 1 FROM mm_route_queue WHERE mm_thread = %s AND taken = %s LIMIT 1",
                (mm_thread, RECOVERED),
            ).fetchone()
            taken = take_queue(conn, mm_thread, fence, only_recovered=recovered is not None)
            attempts = conn.execute(
                "SELECT attempts FROM mm_route_threads WHERE mm_thread = %s", (mm_thread,)
            ).fetchone()[0]
            return ClaimedMessages(taken, fence, int(attempts))

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

    def _take(
        self,
        conn: Any,
        mm_thread: str,
        row: Row,
        *,
        resuming: str | None = None,
        recover: bool = False,
    ) -> int:
        """A new claim with a new token on the locked ``row`` of ``mm_thread``. One that
        takes over a lapsed claim gives its taken messages back and counts an attempt
        (``recover``: its worker died), or else leaves them to the lapsed claim's holder
        (a router's take-over: that worker may still be running)."""
        if row.held and row.parked is None and recover:  # callers checked: lapsed
            conn.execute(
                "UPDATE mm_route_threads SET attempts = attempts + 1 WHERE mm_thread = %s",
                (mm_thread,),
            )
            conn.execute(
                "UPDATE mm_route_queue SET taken = %s WHERE mm_thread = %s AND taken IS NOT NULL",
                (RECOVERED, mm_thread),
            )
        else:
            conn.execute(
                "DELETE FROM mm_route_queue WHERE mm_thread = %s AND taken IS NOT NULL",
                (mm_thread,),
            )
        taken = conn.execute(
            "UPDATE mm_route_threads SET fence = nextval('mm_fence'),"
            f" claimed_until = now() + {_SECONDS}, parked = NULL, resuming = %s"
            " WHERE mm_thread = %s RETURNING fence",
            (self.lease, resuming, mm_thread),
        ).fetchone()
        return int(taken[0])

    def _prune(self) -> None:
        if self._writes % _PRUNE_EVERY != 1:
            return
        with self.database.connection() as conn:
            conn.execute(
                f"DELETE FROM mm_route_seen WHERE seen_at <= now() - {_SECONDS}",
                (self.seen_retention,),
            )
