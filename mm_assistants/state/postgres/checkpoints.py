"""`PostgresCheckpointStore`: parked runs' checkpoints in PostgreSQL, resumable by any
process of the fleet.

A claim locks the row, judges the earlier claim by the database's ``now()`` and takes a
fencing token from the ``mm_fence`` sequence, which never hands a number out twice (not
even for a checkpoint deleted and written again). Every write of a claim's holder names its
token (``WHERE fence = %s``). A row that cannot be read is moved to
``mm_checkpoint_quarantine`` and logged by its id only.
"""

from __future__ import annotations

from typing import Any

from mm_assistants.state.checkpoints import Checkpoint, CheckpointClaim, check_checkpoint
from mm_assistants.state.postgres.connection import (
    PostgresDatabase,
    database,
    quarantine,
    seconds_until,
)

TABLE = "mm_checkpoints"
QUARANTINE = "mm_checkpoint_quarantine"
# Times as unix seconds; ``holds`` is judged by the database's clock.
_SELECT = (
    "SELECT checkpoint_id, record, format_version, extract(epoch FROM updated_at)::float8,"
    " fence, extract(epoch FROM claimed_until)::float8, claimed_until > now(), attempts,"
    " extract(epoch FROM next_attempt_at)::float8"
    f" FROM {TABLE} WHERE checkpoint_id = %s"
)


class PostgresCheckpointStore:
    """A `CheckpointStore` in PostgreSQL (``str`` DSN, or a `PostgresDatabase` to share
    its pool).

    Example::

        store = PostgresCheckpointStore(dsn)
        store.put("run_1", b"{}", format_version=1)
    """

    def __init__(self, dsn: str | PostgresDatabase) -> None:
        self.database = database(dsn)
        self._owned = not isinstance(dsn, PostgresDatabase)

    def __repr__(self) -> str:
        return f"PostgresCheckpointStore({self.database.where!r})"

    def put(
        self, checkpoint_id: str, record: bytes, *, format_version: int, token: int | None = None
    ) -> bool:
        """Store a checkpoint (see `CheckpointStore.put`); a claim on it is kept."""
        check_checkpoint(checkpoint_id, record, format_version)
        with self.database.connection() as conn:
            if token is None:
                conn.execute(
                    f"INSERT INTO {TABLE} (checkpoint_id, record, format_version)"
                    " VALUES (%s, %s, %s) ON CONFLICT (checkpoint_id) DO UPDATE SET"
                    " record = excluded.record, format_version = excluded.format_version,"
                    " updated_at = now()",
                    (checkpoint_id, bytes(record), format_version),
                )
                return True
            written = conn.execute(
                f"UPDATE {TABLE} SET record = %s, format_version = %s, updated_at = now()"
                " WHERE checkpoint_id = %s AND fence = %s",
                (bytes(record), format_version, checkpoint_id, token),
            ).rowcount
        return bool(written == 1)

    def get(self, checkpoint_id: str) -> Checkpoint | None:
        """The checkpoint, or ``None`` (also when it cannot be read: it is quarantined)."""
        with self.database.connection() as conn:
            row = conn.execute(_SELECT, (checkpoint_id,)).fetchone()
        return None if row is None else self._decode(row)

    def claim(self, checkpoint_id: str, *, until: float) -> CheckpointClaim | None:
        """Claim the checkpoint until ``until`` (see `CheckpointStore.claim`): a lease of
        ``until`` minus this host's time, counted on the database's clock."""
        problem = None
        with self.database.transaction() as conn:
            row = conn.execute(_SELECT + " FOR UPDATE", (checkpoint_id,)).fetchone()
            known = None if row is None else _read(row)
            if isinstance(known, str):
                problem, known = known, None  # kept aside once this transaction ended
            elif known is not None and not row[6]:
                # a lapsed claim (never released) was lost: its worker died or its drive raised
                fence, attempts = conn.execute(
                    f"UPDATE {TABLE} SET fence = nextval('mm_fence'),"
                    " claimed_until = now() + %s * interval '1 second',"
                    " attempts = attempts + (claimed_until IS NOT NULL)::int,"
                    " next_attempt_at = NULL"
                    " WHERE checkpoint_id = %s RETURNING fence, attempts",
                    (seconds_until(until), checkpoint_id),
                ).fetchone()
                claimed = Checkpoint(
                    known.checkpoint_id,
                    known.record,
                    known.format_version,
                    known.updated_at,
                    int(fence),
                    until,
                    int(attempts),
                )
                return CheckpointClaim(claimed, int(fence), until)
        if problem is not None:
            self._quarantine(checkpoint_id, problem)
        return None

    def renew(self, checkpoint_id: str, token: int, *, until: float) -> bool:
        """Extend the claim ``token`` (see `CheckpointStore.renew`): ``until`` minus this
        host's time, counted on the database's clock."""
        with self.database.connection() as conn:
            changed = conn.execute(
                f"UPDATE {TABLE} SET claimed_until = now() + %s * interval '1 second'"
                " WHERE checkpoint_id = %s AND fence = %s AND claimed_until IS NOT NULL",
                (seconds_until(until), checkpoint_id, token),
            ).rowcount
        return bool(changed == 1)

    def release(self, checkpoint_id: str, token: int) -> bool:
        """End the claim ``token`` (see `CheckpointStore.release`)."""
        with self.database.connection() as conn:
            changed = conn.execute(
                f"UPDATE {TABLE} SET claimed_until = NULL"
                " WHERE checkpoint_id = %s AND fence = %s AND claimed_until IS NOT NULL",
                (checkpoint_id, token),
            ).rowcount
        return bool(changed == 1)

    def delete(self, checkpoint_id: str, *, token: int | None = None) -> bool:
        """Forget the checkpoint (see `CheckpointStore.delete`)."""
        with self.database.connection() as conn:
            if token is None:
                cursor = conn.execute(
                    f"DELETE FROM {TABLE} WHERE checkpoint_id = %s", (checkpoint_id,)
                )
            else:
                cursor = conn.execute(
                    f"DELETE FROM {TABLE} WHERE checkpoint_id = %s AND fence = %s",
                    (checkpoint_id, token),
                )
            return bool(cursor.rowcount == 1)

    def defer(self, checkpoint_id: str, *, until: float) -> bool:
        """Set the checkpoint's next attempt (see `CheckpointStore.defer`): ``until`` minus
        this host's time, counted on the database's clock."""
        with self.database.connection() as conn:
            changed = conn.execute(
                f"UPDATE {TABLE} SET next_attempt_at = now() + %s * interval '1 second'"
                " WHERE checkpoint_id = %s",
                (seconds_until(until), checkpoint_id),
            ).rowcount
        return bool(changed == 1)

    def lapsed(self, limit: int = 100) -> list[str]:
        """Checkpoints whose claim lapsed unreleased and that are due (see
        `CheckpointStore.lapsed`), by the database's clock."""
        with self.database.connection() as conn:
            rows = conn.execute(
                f"SELECT checkpoint_id FROM {TABLE} WHERE claimed_until <= now()"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
                " ORDER BY claimed_until LIMIT %s",
                (limit,),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def quarantined(self) -> list[tuple[str, str, float]]:
        """The rows kept aside as unreadable: ``(checkpoint_id, problem, quarantined_at)``."""
        with self.database.connection() as conn:
            rows = conn.execute(
                "SELECT checkpoint_id, problem, extract(epoch FROM quarantined_at)::float8"
                f" FROM {QUARANTINE} ORDER BY quarantined_at"
            ).fetchall()
        return [(str(row[0]), str(row[1]), float(row[2])) for row in rows]

    def close(self) -> None:
        """Close the pool this store opened from a DSN (a given `PostgresDatabase` is the
        caller's to close)."""
        if self._owned:
            self.database.close()

    def _decode(self, row: tuple[Any, ...]) -> Checkpoint | None:
        checkpoint = _read(row)
        if isinstance(checkpoint, str):
            self._quarantine(str(row[0]), checkpoint)
            return None
        return checkpoint

    def _quarantine(self, checkpoint_id: str, problem: str) -> None:
        quarantine(
            self.database,
            table=TABLE,
            into=QUARANTINE,
            key_column="checkpoint_id",
            columns=("checkpoint_id", "record", "format_version"),
            key=checkpoint_id,
            problem=problem,
            what="checkpoint",
        )


def _read(row: tuple[Any, ...]) -> Checkpoint | str:
    """The checkpoint a row holds, or a fixed description of why it cannot be read."""
    checkpoint_id, record, version, updated_at, fence, until, _holds, attempts, due = row
    if not isinstance(version, int) or version < 1:
        return "the format version is not a positive integer"
    # claimed_until is shown on this host's clock: the database's lease end, moved by
    # however far the two clocks disagree is not known here, so it is shown as stored
    return Checkpoint(
        str(checkpoint_id),
        bytes(record),
        version,
        float(updated_at),
        int(fence),
        None if until is None else float(until),
        int(attempts),
        None if due is None else float(due),
    )
