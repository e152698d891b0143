"""`SQLiteCheckpointStore`: parked runs' checkpoints in a SQLite file.

Fencing tokens come from one counter row (``mm_checkpoint_fence``) incremented in the same
`Database.transaction` as the claim, so a token is never handed out twice, not even for a
checkpoint deleted and written again. A row that cannot be read is moved to
``mm_checkpoint_quarantine`` and logged by its id only.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from mm_assistants.state.checkpoints import (
    Checkpoint,
    CheckpointClaim,
    check_checkpoint,
    claim_holds,
)
from mm_assistants.state.sqlite.connection import Database

TABLE = "mm_checkpoints"
QUARANTINE = "mm_checkpoint_quarantine"
#: 1: checkpoints with their latest claim, the fence counter, the quarantine;
#: 2: ``attempts`` (take-overs of a lapsed claim); 3: ``next_attempt_at`` (a resume that
#: raised backs off). Older files are upgraded in place.
SCHEMA_VERSION = 3
_COLUMNS = (
    "checkpoint_id",
    "record",
    "format_version",
    "updated_at",
    "fence",
    "claimed_until",
    "attempts",
    "next_attempt_at",
)


class SQLiteCheckpointStore:
    """A `CheckpointStore` in a SQLite file (created ``0600``) that the processes of one
    host may share.

    Example::

        store = SQLiteCheckpointStore("checkpoints.db")
        store.put("run_1", b"{}", format_version=1)
    """

    def __init__(self, path: str | Path) -> None:
        self._db = Database(path)
        self.path = self._db.path
        self._db.migrate("checkpoints", SCHEMA_VERSION, _upgrade)

    def __repr__(self) -> str:
        return f"SQLiteCheckpointStore({self.path!r})"

    def put(
        self, checkpoint_id: str, record: bytes, *, format_version: int, token: int | None = None
    ) -> bool:
        """Store a checkpoint (see `CheckpointStore.put`)."""
        check_checkpoint(checkpoint_id, record, format_version)
        with self._db.transaction() as db:
            if token is not None:
                row = db.execute(
                    f"SELECT fence FROM {TABLE} WHERE checkpoint_id = ?", (checkpoint_id,)
                ).fetchone()
                if row is None or row[0] != token:
                    return False
            # an upsert keeps the claim (fence, claimed_until) of the row it updates
            db.execute(
                f"INSERT INTO {TABLE} (checkpoint_id, record, format_version, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(checkpoint_id) DO UPDATE SET"
                " record = excluded.record, format_version = excluded.format_version,"
                " updated_at = excluded.updated_at",
                (checkpoint_id, bytes(record), format_version, time.time()),
            )
            return True

    def get(self, checkpoint_id: str) -> Checkpoint | None:
        """The checkpoint, or ``None`` (also when it cannot be read: it is quarantined)."""
        with self._db.connection() as db:
            row = db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE checkpoint_id = ?",
                (checkpoint_id,),
            ).fetchone()
            return None if row is None else self._decode(row)

    def claim(self, checkpoint_id: str, *, until: float) -> CheckpointClaim | None:
        """Claim the checkpoint (see `CheckpointStore.claim`)."""
        with self._db.transaction() as db:
            row = db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE checkpoint_id = ?",
                (checkpoint_id,),
            ).fetchone()
            known = None if row is None else _read(row)
            if not isinstance(known, Checkpoint) or claim_holds(known, time.time()):
                claimed = None
            else:
                db.execute("UPDATE mm_checkpoint_fence SET last = last + 1 WHERE id = 0")
                token = int(db.execute("SELECT last FROM mm_checkpoint_fence").fetchone()[0])
                # a lapsed claim (never released) was lost: its worker died or its drive raised
                attempts = known.attempts + (known.claimed_until is not None)
                db.execute(
                    f"UPDATE {TABLE} SET fence = ?, claimed_until = ?, attempts = ?,"
                    " next_attempt_at = NULL WHERE checkpoint_id = ?",
                    (token, until, attempts, checkpoint_id),
                )
                claimed = replace(
                    known, fence=token, claimed_until=until, attempts=attempts, next_attempt_at=None
                )
        if isinstance(known, str):  # unreadable: kept aside once the claim's lock is gone
            self._quarantine(checkpoint_id, known)
        return None if claimed is None else CheckpointClaim(claimed, claimed.fence, until)

    def renew(self, checkpoint_id: str, token: int, *, until: float) -> bool:
        """Extend the claim ``token`` (see `CheckpointStore.renew`)."""
        with self._db.connection() as db:
            changed = db.execute(
                f"UPDATE {TABLE} SET claimed_until = ?"
                " WHERE checkpoint_id = ? AND fence = ? AND claimed_until IS NOT NULL",
                (until, checkpoint_id, token),
            ).rowcount
        return changed == 1

    def release(self, checkpoint_id: str, token: int) -> bool:
        """End the claim ``token`` (see `CheckpointStore.release`)."""
        with self._db.connection() as db:
            changed = db.execute(
                f"UPDATE {TABLE} SET claimed_until = NULL"
                " WHERE checkpoint_id = ? AND fence = ? AND claimed_until IS NOT NULL",
                (checkpoint_id, token),
            ).rowcount
        return changed == 1

    def delete(self, checkpoint_id: str, *, token: int | None = None) -> bool:
        """Forget the checkpoint (see `CheckpointStore.delete`)."""
        with self._db.connection() as db:
            if token is None:
                cursor = db.execute(
                    f"DELETE FROM {TABLE} WHERE checkpoint_id = ?", (checkpoint_id,)
                )
            else:
                cursor = db.execute(
                    f"DELETE FROM {TABLE} WHERE checkpoint_id = ? AND fence = ?",
                    (checkpoint_id, token),
                )
        return cursor.rowcount == 1

    def defer(self, checkpoint_id: str, *, until: float) -> bool:
        """Set the checkpoint's next attempt (see `CheckpointStore.defer`)."""
        with self._db.connection() as db:
            changed = db.execute(
                f"UPDATE {TABLE} SET next_attempt_at = ? WHERE checkpoint_id = ?",
                (until, checkpoint_id),
            ).rowcount
        return changed == 1

    def lapsed(self, limit: int = 100) -> list[str]:
        """Checkpoints whose claim lapsed unreleased and that are due (see
        `CheckpointStore.lapsed`)."""
        now = time.time()
        with self._db.connection() as db:
            rows = db.execute(
                f"SELECT checkpoint_id FROM {TABLE} WHERE claimed_until IS NOT NULL"
                " AND claimed_until <= ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
                " ORDER BY claimed_until LIMIT ?",
                (now, now, limit),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def quarantined(self) -> list[tuple[str, str, float]]:
        """The rows kept aside as unreadable: ``(checkpoint_id, problem, quarantined_at)``."""
        with self._db.connection() as db:
            rows = db.execute(
                f"SELECT checkpoint_id, problem, quarantined_at FROM {QUARANTINE}"
                " ORDER BY quarantined_at"
            ).fetchall()
        return [(str(row[0]), str(row[1]), float(row[2])) for row in rows]

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _decode(self, row: tuple[object, ...]) -> Checkpoint | None:
        checkpoint = _read(row)
        if isinstance(checkpoint, str):
            self._quarantine(str(row[0]), checkpoint)
            return None
        return checkpoint

    def _quarantine(self, checkpoint_id: str, problem: str) -> None:
        self._db.quarantine(
            table=TABLE,
            into=QUARANTINE,
            key_column="checkpoint_id",
            columns=_COLUMNS[:4],
            key=checkpoint_id,
            problem=problem,
            what="checkpoint",
        )


def _read(row: tuple[object, ...]) -> Checkpoint | str:
    """The checkpoint a row holds, or a fixed description of why it cannot be read."""
    checkpoint_id, record, version, updated_at, fence, until, attempts, due = row
    if not isinstance(record, bytes):
        return "the record is not bytes"
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return "the format version is not a positive integer"
    if not isinstance(updated_at, (int, float)) or not isinstance(fence, int):
        return "a field has the wrong type"
    if until is not None and not isinstance(until, (int, float)):
        return "a field has the wrong type"
    if isinstance(attempts, bool) or not isinstance(attempts, int):
        return "a field has the wrong type"
    if due is not None and not isinstance(due, (int, float)):
        return "a field has the wrong type"
    return Checkpoint(
        str(checkpoint_id),
        record,
        version,
        float(updated_at),
        fence,
        until,
        attempts,
        None if due is None else float(due),
    )


def _upgrade(db: sqlite3.Connection, found: int) -> None:
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} (checkpoint_id TEXT PRIMARY KEY, record BLOB NOT NULL,"
        " format_version INTEGER NOT NULL, updated_at REAL NOT NULL,"
        " fence INTEGER NOT NULL DEFAULT 0, claimed_until REAL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS mm_checkpoint_fence"
        " (id INTEGER PRIMARY KEY CHECK (id = 0), last INTEGER NOT NULL)"
    )
    db.execute("INSERT OR IGNORE INTO mm_checkpoint_fence VALUES (0, 0)")
    columns = {row[1] for row in db.execute(f"PRAGMA table_info({TABLE})")}
    if "attempts" not in columns:  # version 1, upgraded in place
        db.execute(f"ALTER TABLE {TABLE} ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
    if "next_attempt_at" not in columns:  # versions 1 and 2, upgraded in place
        db.execute(f"ALTER TABLE {TABLE} ADD COLUMN next_attempt_at REAL")
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {QUARANTINE} (checkpoint_id TEXT, record BLOB,"
        " format_version, updated_at, problem TEXT NOT NULL, quarantined_at REAL NOT NULL)"
    )
