"""SQLite storage of JSON documents, one table per kind, shared by both halves of the sandbox.

Every document is a JSON object keyed by its ``id``, with the id of its parent (a thread for
OpenAI messages, a tenant for MultiMail mailboxes, ...) and an insertion sequence that keeps
list order stable when several documents share a timestamp. Keys that start with ``_`` are
the server's own bookkeeping and never leave it (see `public`).

Each server names its tables with its own prefix (``oai_``, ``mm_``), so both can live in
one file. One connection, guarded by a re-entrant lock, serves all threads; WAL mode lets
another connection (a restarted app, a test) read the same file meanwhile.

Example::

    store = DocStore("sandbox.db", prefix="mm_", kinds=("mailboxes", "emails"))
    with store.transaction():
        store.put("mailboxes", {"id": "mbx_1", "address": "a@b.dev"}, parent="tnt_1")
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

Doc = dict[str, Any]

_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def public(doc: Doc) -> Doc:
    """``doc`` without the server's private ``_`` keys."""
    return {key: value for key, value in doc.items() if not key.startswith("_")}


class DocStore:
    """The ``<prefix><kind>`` tables in one SQLite file."""

    def __init__(self, path: str, *, prefix: str, kinds: Sequence[str]) -> None:
        # table names cannot be bound as SQL parameters: only these checked names reach SQL
        for name in (prefix, *kinds):
            if not _NAME.match(name):
                raise ValueError(f"table name part {name!r} must be lower-case letters, digits, _")
        if not kinds:
            raise ValueError("DocStore needs at least one kind")
        self.prefix = prefix
        self.kinds = tuple(kinds)
        self.lock = threading.RLock()
        # isolation_level=None: we open transactions ourselves (see `transaction`)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._depth = 0
        with self.lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            for kind in self.kinds:
                table = prefix + kind
                self._db.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} ("
                    "seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
                    "parent TEXT NOT NULL DEFAULT '', body TEXT NOT NULL)"
                )
                self._db.execute(
                    f"CREATE INDEX IF NOT EXISTS {table}_parent ON {table} (parent, seq)"
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
                f"INSERT INTO {self._table(kind)} (id, parent, body) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                (doc["id"], parent, body),
            )
        return doc

    def get(self, kind: str, object_id: str) -> Doc | None:
        """The document with ``object_id``, or ``None``."""
        with self.lock:
            row = self._db.execute(
                f"SELECT body FROM {self._table(kind)} WHERE id = ?", (object_id,)
            ).fetchone()
        return None if row is None else _load(row[0])

    def children(self, kind: str, parent: str = "") -> list[Doc]:
        """All documents under ``parent``, oldest first."""
        with self.lock:
            rows = self._db.execute(
                f"SELECT body FROM {self._table(kind)} WHERE parent = ? ORDER BY seq", (parent,)
            ).fetchall()
        return [_load(row[0]) for row in rows]

    def first(self, kind: str, limit: int, parent: str = "") -> list[Doc]:
        """The ``limit`` oldest documents under ``parent``: bounded work over a long list."""
        with self.lock:
            rows = self._db.execute(
                f"SELECT body FROM {self._table(kind)} WHERE parent = ? ORDER BY seq LIMIT ?",
                (parent, max(0, limit)),
            ).fetchall()
        return [_load(row[0]) for row in rows]

    def delete(self, kind: str, object_id: str, *, cascade: bool = True) -> bool:
        """Remove one document and (with ``cascade``) whatever hangs under it in any kind;
        whether it existed."""
        with self.lock:
            cursor = self._db.execute(f"DELETE FROM {self._table(kind)} WHERE id = ?", (object_id,))
            for child in self.kinds if cascade else ():
                self._db.execute(f"DELETE FROM {self.prefix}{child} WHERE parent = ?", (object_id,))
        return cursor.rowcount > 0

    def _table(self, kind: str) -> str:
        if kind not in self.kinds:
            raise ValueError(f"unknown kind {kind!r}")
        return self.prefix + kind


def _load(text: str) -> Doc:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("stored document is not an object")
    return doc
