"""`SQLiteSeenStore`: the webhook receiver's replay memory in a SQLite file.

The processes of one host that open the same file accept each delivery once: a claim's
look-up and insert are one `Database.transaction` (``BEGIN IMMEDIATE`` takes the write lock
before the look-up, so two processes cannot both find a key absent and both insert it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from mm_assistants.state.sqlite.connection import Database

#: 1: one row per key with the time it may be forgotten.
SCHEMA_VERSION = 1
_PRUNE_EVERY = 256  # claims between two deletions of expired rows


class SQLiteSeenStore:
    """`SeenDeliveries` in a SQLite file: survives restarts; the processes of one host that
    open the same file accept each delivery once.

    The file (and its folder, when this creates it) is readable by its owner only. Expired
    rows are deleted now and then while claiming. A claim is one small local write; an
    async receiver makes it in the event loop, as it verifies the signature there.

    Example::

        receiver = WebhookReceiver(secret, replay_guard=SQLiteSeenStore("/var/lib/app/seen.db"))
    """

    def __init__(self, path: str | Path) -> None:
        self._db = Database(path)
        self.path = self._db.path
        self._claims = 0
        self._db.migrate("seen", SCHEMA_VERSION, _upgrade)

    def __repr__(self) -> str:
        return f"SQLiteSeenStore({self.path!r})"

    def claim(self, keys: Sequence[str], *, now: float, keep_until: float) -> bool:
        """First to insert wins (see `SeenDeliveries.claim`)."""
        keys = tuple(keys)
        with self._db.transaction() as db:
            marks = ",".join("?" * len(keys))
            found = db.execute(
                f"SELECT 1 FROM mm_webhook_seen WHERE keep_until > ? AND key IN ({marks})",
                (now, *keys),
            ).fetchone()
            if found is not None:
                return False
            db.executemany(
                "INSERT OR REPLACE INTO mm_webhook_seen VALUES (?, ?)",
                [(key, keep_until) for key in keys],
            )
            self._claims += 1
            if self._claims % _PRUNE_EVERY == 1:
                db.execute("DELETE FROM mm_webhook_seen WHERE keep_until <= ?", (now,))
            return True

    def release(self, keys: Iterable[str]) -> None:
        """Forget ``keys``."""
        with self._db.transaction() as db:
            db.executemany("DELETE FROM mm_webhook_seen WHERE key = ?", [(k,) for k in keys])

    def close(self) -> None:
        """Close the database."""
        self._db.close()


def _upgrade(db: sqlite3.Connection, found: int) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS mm_webhook_seen"
        " (key TEXT PRIMARY KEY, keep_until REAL NOT NULL)"
    )
