"""`PostgresMailboxChecks`: the fleet watcher's per-mailbox check rows in PostgreSQL.

Any process's sweep claims due rows with ``FOR UPDATE SKIP LOCKED``: rows another sweep is
claiming right now are skipped, not waited for, so sweeps scale out with no leader and no
session lock. Due times and leases are judged by the database's ``now()`` (the hosts of a
fleet disagree about the time; the database does not). Each claim takes a fresh fencing
token from the ``mm_fence`` sequence, and `PostgresMailboxChecks.done` writes only
``WHERE fence = token``, and so do `PostgresMailboxChecks.renew` and a sweeper's
`PostgresMailboxChecks.unwatch`: a sweeper whose lease lapsed (and whose row someone else
claimed, or dropped and registered again: a new row's fence is 0, never a token) changes
nothing when it finally reports.
"""

from __future__ import annotations

from collections.abc import Sequence

from mm_assistants.state.checks import (
    CheckLease,
    check_claim_args,
    check_lease_seconds,
    check_schedule,
)
from mm_assistants.state.postgres.connection import PostgresDatabase, database

_CLAIM = """
WITH due AS (
    SELECT mailbox_id FROM mm_mailbox_checks
    WHERE next_check_at <= now() AND (leased_until IS NULL OR leased_until <= now())
    ORDER BY next_check_at, mailbox_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE mm_mailbox_checks AS c
SET owner = %(owner)s, fence = nextval('mm_fence'),
    leased_until = now() + make_interval(secs => %(lease)s)
FROM due WHERE c.mailbox_id = due.mailbox_id
RETURNING c.mailbox_id, c.fence, c.interval_seconds, c.next_check_at
"""

_DONE = """
UPDATE mm_mailbox_checks
SET next_check_at = now() + make_interval(secs => %(next_in)s),
    interval_seconds = %(interval)s, leased_until = NULL, checked_at = now()
WHERE mailbox_id = %(mailbox_id)s AND fence = %(token)s
"""


_RENEW = """
UPDATE mm_mailbox_checks SET leased_until = now() + make_interval(secs => %(seconds)s)
WHERE mailbox_id = %(mailbox_id)s AND fence = %(token)s
"""


class PostgresMailboxChecks:
    """`MailboxChecks` in PostgreSQL (see the module docstring), shared by every process
    that points at the same database.

    Example::

        checks = PostgresMailboxChecks("postgresql://app@db.internal/app")
        checks.watch(["mbx_1"], interval=5)
        leases = checks.claim_due("host-a:4242", lease=60, limit=10)
    """

    def __init__(self, db: str | PostgresDatabase) -> None:
        self.database = database(db)

    def __repr__(self) -> str:
        return f"PostgresMailboxChecks({self.database.where!r})"

    def watch(self, mailbox_ids: Sequence[str], *, interval: float) -> None:
        """See `MailboxChecks.watch` (a new row is due at the database's ``now()``)."""
        check_schedule(next_in=0.0, interval=interval)
        ids = sorted({str(mailbox_id) for mailbox_id in mailbox_ids})
        if not ids:
            return
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO mm_mailbox_checks (mailbox_id, interval_seconds)"
                " SELECT unnest(%s::text[]), %s ON CONFLICT (mailbox_id) DO NOTHING",
                (ids, float(interval)),
            )

    def unwatch(self, mailbox_id: str, *, token: int | None = None) -> bool:
        """See `MailboxChecks.unwatch` (with ``token``: ``WHERE fence = token``)."""
        with self.database.transaction() as conn:
            if token is None:
                cursor = conn.execute(
                    "DELETE FROM mm_mailbox_checks WHERE mailbox_id = %s", (mailbox_id,)
                )
            else:
                cursor = conn.execute(
                    "DELETE FROM mm_mailbox_checks WHERE mailbox_id = %s AND fence = %s",
                    (mailbox_id, int(token)),
                )
            return bool(cursor.rowcount == 1)

    def claim_due(self, owner: str, *, lease: float, limit: int) -> list[CheckLease]:
        """See `MailboxChecks.claim_due` (oldest due first; locked rows are skipped)."""
        check_claim_args(lease=lease, limit=limit)
        with self.database.transaction() as conn:
            rows = conn.execute(
                _CLAIM, {"owner": str(owner), "lease": float(lease), "limit": limit}
            ).fetchall()
        # RETURNING keeps no order: hand the oldest due first, as the memory backend does
        rows.sort(key=lambda row: (row[3], row[0]))
        return [CheckLease(str(row[0]), int(row[1]), float(row[2])) for row in rows]

    def done(self, lease: CheckLease, *, next_in: float, interval: float) -> bool:
        """See `MailboxChecks.done`: written only while ``lease.token`` is the row's."""
        check_schedule(next_in=next_in, interval=interval)
        with self.database.transaction() as conn:
            updated = conn.execute(
                _DONE,
                {
                    "next_in": float(next_in),
                    "interval": float(interval),
                    "mailbox_id": lease.mailbox_id,
                    "token": int(lease.token),
                },
            ).rowcount
        return bool(updated == 1)

    def renew(self, lease: CheckLease, *, seconds: float) -> bool:
        """See `MailboxChecks.renew` (on the database's clock, ``WHERE fence = token``)."""
        check_lease_seconds(seconds)
        with self.database.transaction() as conn:
            updated = conn.execute(
                _RENEW,
                {
                    "seconds": float(seconds),
                    "mailbox_id": lease.mailbox_id,
                    "token": int(lease.token),
                },
            ).rowcount
        return bool(updated == 1)
