"""The one way the stores open and change a SQLite file.

- `open_database`: the file (and a missing folder) is created readable by its owner only
  (``0600``/``0700``, whatever the umask) *before* SQLite opens it, and an existing file
  that others may read is made private, because the stores hold thread ids, who sent what,
  and runs' state; SQLite gives its ``-wal``/``-shm`` files the database file's mode. The
  connection is in WAL mode (readers do not block the writer), waits `BUSY_TIMEOUT`
  seconds for another process's write, runs in autocommit (``isolation_level=None``: every
  transaction is spelled out) and may be used from any thread (the store's lock guards it).
- `Database.transaction`: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any error).
  IMMEDIATE takes the write lock before the first read, so two processes cannot both read
  "free" and both claim: every atomic claim of every store goes through it.
- `Database.migrate`: the ``mm_schema_versions`` table records each store's layout version,
  so a later release knows what it opens.
- `Database.quarantine`: a row that cannot be read is moved aside and logged by its key and
  a fixed description of the problem, never by its content.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger("mm_assistants.state")

#: Seconds a connection waits for another connection's write lock before it fails.
BUSY_TIMEOUT = 30.0
#: The mode of every file the stores create.
PRIVATE_MODE = 0o600
#: The table recording each store's schema version.
SCHEMA_TABLE = "mm_schema_versions"


def open_database(path: str | Path) -> sqlite3.Connection:
    """A connection to the SQLite file ``path``, set up as every store needs it (see the
    module docstring); the file is created ``0600`` first."""
    name = str(path)
    if name.startswith("file:"):
        # SQLite may read a "file:" name as a URI and open another file than the one made
        # private here: a store takes a plain path.
        raise ValueError(f"a state store takes a file path, not a SQLite URI: {name!r}")
    make_private(name)
    db = sqlite3.connect(name, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (store TEXT PRIMARY KEY,"
            " version INTEGER NOT NULL, updated_at REAL NOT NULL)"
        )
    except BaseException:
        db.close()
        raise
    for suffix in ("-wal", "-shm"):
        make_private(name + suffix, create=False)
    return db


def make_private(path: str, *, create: bool = True) -> None:
    """Create ``path`` (and every missing folder above it, ``0700``) readable by its owner
    only, or make an existing file so; an in-memory database is left alone. A file that
    others may write and that cannot be made private is refused: another user could
    replace what the store reads."""
    if path in ("", ":memory:") or path.startswith((":memory:", "file:")):
        return  # nothing on disk to protect (open_database refuses a URI before this)
    if create:
        # mkdir(parents=True) gives the parents the umask's mode; each missing folder gets
        # 0700 instead, so no other user can swap the folder for one of their own.
        missing = [f for f in (Path(path).parent, *Path(path).parent.parents) if not f.exists()]
        for folder in reversed(missing):
            folder.mkdir(mode=0o700, exist_ok=True)
        # before SQLite does, which would create it with the umask's default mode
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        try:
            os.chmod(path, mode & 0o700)
        except PermissionError as error:  # another user's file
            if mode & 0o022:
                raise PermissionError(
                    f"{path} may be written by other users and cannot be made private: "
                    "give the store a file of your own"
                ) from error
            logger.warning("%s is readable by others and could not be made private", path)


class Database:
    """One store's connection to a SQLite file: one lock, one transaction helper.

    Example::

        db = Database("state.db")
        with db.transaction() as conn:     # BEGIN IMMEDIATE ... COMMIT
            conn.execute("UPDATE ...")
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        # Re-entrant: a read that finds an unreadable row quarantines it in a transaction.
        self._lock = threading.RLock()
        self._db = open_database(self.path)

    def __repr__(self) -> str:
        return f"Database({self.path!r})"

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, for single statements (each its own transaction)."""
        with self._lock:
            yield self._db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside ``BEGIN IMMEDIATE`` ... ``COMMIT``; an error ends it
        with ``ROLLBACK`` instead, and is raised."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # no other connection writes until we end
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def migrate(
        self, store: str, version: int, upgrade: Callable[[sqlite3.Connection, int], None]
    ) -> int:
        """Bring ``store``'s tables to ``version``: ``upgrade(conn, found)`` runs in one
        transaction with the version recorded before (0: none, or a file from before
        versions were recorded) and is idempotent (``IF NOT EXISTS``). A file a newer
        release wrote keeps its higher version. Returns the version now recorded."""
        with self.transaction() as db:
            row = db.execute(
                f"SELECT version FROM {SCHEMA_TABLE} WHERE store = ?", (store,)
            ).fetchone()
            found = 0 if row is None else int(row[0])
            upgrade(db, found)
            recorded = max(found, version)
            db.execute(
                f"INSERT INTO {SCHEMA_TABLE} VALUES (?, ?, ?) ON CONFLICT(store)"
                " DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                (store, recorded, time.time()),
            )
        return recorded

    def schema_version(self, store: str) -> int | None:
        """The layout version recorded for ``store``, or ``None``."""
        with self.connection() as db:
            row = db.execute(
                f"SELECT version FROM {SCHEMA_TABLE} WHERE store = ?", (store,)
            ).fetchone()
        return None if row is None else int(row[0])

    def quarantine(
        self,
        *,
        table: str,
        into: str,
        key_column: str,
        columns: Sequence[str],
        key: str,
        problem: str,
        what: str,
    ) -> None:
        """Move the row ``key`` of ``table`` to ``into`` (same ``columns`` plus ``problem``
        and ``quarantined_at``) and log it as ``what`` by its key and ``problem`` only: the
        row's text may hold anything."""
        names = ", ".join(columns)
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO {into} ({names}, problem, quarantined_at)"
                f" SELECT {names}, ?, ? FROM {table} WHERE {key_column} = ?",
                (problem, time.time(), key),
            )
            db.execute(f"DELETE FROM {table} WHERE {key_column} = ?", (key,))
        logger.warning(
            "%s %r could not be read (%s); moved to %s in %s",
            what,
            str(key)[:80],
            problem,
            into,
            self.path,
        )

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
