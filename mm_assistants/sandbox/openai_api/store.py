"""SQLite storage of the emulator's objects, one ``oai_`` table per kind.

Every object is a JSON document keyed by its id, with the id of its parent (a thread for
messages and runs, a run for steps) and an insertion sequence that keeps list order stable
when several objects share a ``created_at`` second. Keys that start with ``_`` are the
emulator's own bookkeeping and never leave the server (see `public`).

One connection, guarded by a re-entrant lock, serves all threads; WAL mode lets another
connection (a restarted app, a test) read the same file meanwhile.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

KINDS = ("assistants", "threads", "messages", "runs", "steps", "responses")

Doc = dict[str, Any]


def public(doc: Doc) -> Doc:
    """``doc`` without the emulator's private ``_`` keys."""
    return {key: value for key, value in doc.items() if not key.startswith("_")}


class Store:
    """The ``oai_*`` tables in one SQLite file."""

    def __init__(self, path: str) -> None:
        self.lock = threading.RLock()
        # isolation_level=None: we open transactions ourselves (see `transaction`)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._depth = 0
        with self.lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            for kind in KINDS:
                self._db.execute(
                    f"CREATE TABLE IF NOT EXISTS oai_{kind} ("
                    "seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
                    "parent TEXT NOT NULL DEFAULT '', body TEXT NOT NULL)"
                )
                self._db.execute(
                    f"CREATE INDEX IF NOT EXISTS oai_{kind}_parent ON oai_{kind} (parent, seq)"
                )

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock and group the writes inside into one commit (re-entrant)."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def put(self, kind: str, doc: Doc, parent: str = "") -> Doc:
        """Insert or replace ``doc`` (by its ``id``), keeping its place in list order."""
        body = json.dumps(doc, separators=(",", ":"))
        with self.lock:
            self._db.execute(
                f"INSERT INTO oai_{_table(kind)} (id, parent, body) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                (doc["id"], parent, body),
            )
        return doc

    def get(self, kind: str, object_id: str) -> Doc | None:
        """The document with ``object_id``, or ``None``."""
        with self.lock:
            row = self._db.execute(
                f"SELECT body FROM oai_{_table(kind)} WHERE id = ?", (object_id,)
            ).fetchone()
        return None if row is None else _load(row[0])

    def children(self, kind: str, parent: str = "") -> list[Doc]:
        """All documents under ``parent``, oldest first."""
        with self.lock:
            rows = self._db.execute(
                f"SELECT body FROM oai_{_table(kind)} WHERE parent = ? ORDER BY seq", (parent,)
            ).fetchall()
        return [_load(row[0]) for row in rows]

    def delete(self, kind: str, object_id: str) -> bool:
        """Remove one document and whatever hangs under it; whether it existed."""
        with self.lock:
            cursor = self._db.execute(f"DELETE FROM oai_{_table(kind)} WHERE id = ?", (object_id,))
            for child in KINDS:
                self._db.execute(f"DELETE FROM oai_{child} WHERE parent = ?", (object_id,))
        return cursor.rowcount > 0


def _table(kind: str) -> str:
    # table names cannot be bound as parameters; only the fixed kinds reach the SQL
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return kind


def _load(text: str) -> Doc:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("stored document is not an object")
    return doc
