"""`SQLitePendingStore`: pending approvals in a SQLite file, found again after a restart.

The file holds thread and run ids and who sent what, so it is created private (``0600``,
whatever the umask; SQLite gives its ``-wal``/``-shm`` files the same mode) and an existing
file that others may read is made private when opened. A row that cannot be read (a
hand edit, a half-written disk, an attacker with write access) must not stop the valid ones
from being delivered: it is moved to ``mm_pending_quarantine`` and logged by email id and
a fixed description of the problem, never by its content. Claims (`PendingStore.claim`)
are compare-and-set updates under ``BEGIN IMMEDIATE``, so of several processes sharing the
file exactly one delivers a record.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import threading
import time
from dataclasses import asdict, replace
from pathlib import Path

from mm_assistants.approvals.store import PendingRecord, decode_record, owner_alive

logger = logging.getLogger("mm_assistants.approvals")

_TABLE = "mm_pending_approvals"
_QUARANTINE = "mm_pending_quarantine"
_PRIVATE = 0o600


class SQLitePendingStore:
    """Pending approvals in a SQLite file, found again after a restart.

    Example::

        store = SQLitePendingStore("pending.db")     # created 0600
        dispatcher = Dispatcher(client, approval_store=store)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        _make_private(self.path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
            " email_id TEXT PRIMARY KEY, recorded_at REAL NOT NULL, record TEXT NOT NULL)"
        )
        columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({_TABLE})")}
        for column, kind in (("claimed_by", "TEXT"), ("claimed_until", "REAL")):
            if column not in columns:  # a file from before claims existed
                self._db.execute(f"ALTER TABLE {_TABLE} ADD COLUMN {column} {kind}")
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {_QUARANTINE} (email_id TEXT, recorded_at REAL,"
            " record TEXT, problem TEXT NOT NULL, quarantined_at REAL NOT NULL)"
        )
        for suffix in ("-wal", "-shm"):
            _make_private(self.path + suffix, create=False)

    def __repr__(self) -> str:
        return f"SQLitePendingStore({self.path!r})"

    def add(self, record: PendingRecord) -> None:
        """Remember ``record`` (a second record of the same email replaces the first, and
        leaves a live claim on it in place)."""
        with self._lock:
            known = self._db.execute(
                f"SELECT recorded_at FROM {_TABLE} WHERE email_id = ?", (record.email_id,)
            ).fetchone()
            if known is not None:  # the email has been waited on since it was first held
                record = replace(record, recorded_at=float(known[0]))
            # An upsert, not INSERT OR REPLACE: replacing the row would clear the claim of a
            # resolver that is delivering it, and let a second resolver deliver it again.
            self._db.execute(
                f"INSERT INTO {_TABLE} (email_id, recorded_at, record) VALUES (?, ?, ?) "
                "ON CONFLICT(email_id) DO UPDATE SET record = excluded.record",
                (record.email_id, record.recorded_at, json.dumps(asdict(record))),
            )

    def all(self) -> list[PendingRecord]:
        """Every readable record, oldest first (unreadable rows are quarantined)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT email_id, record FROM {_TABLE} ORDER BY recorded_at"
            ).fetchall()
            return [record for row in rows if (record := self._decode(*row)) is not None]

    def get(self, email_id: str) -> PendingRecord | None:
        """The record of ``email_id``, or ``None`` (also when it cannot be read)."""
        with self._lock:
            row = self._db.execute(
                f"SELECT email_id, record FROM {_TABLE} WHERE email_id = ?", (email_id,)
            ).fetchone()
            return None if row is None else self._decode(*row)

    def remove(self, email_id: str) -> None:
        """Forget the record of ``email_id`` once its decision was delivered."""
        with self._lock:
            self._db.execute(f"DELETE FROM {_TABLE} WHERE email_id = ?", (email_id,))

    def claim(self, email_id: str, token: str, *, until: float) -> PendingRecord | None:
        """Take the record for delivery (see `PendingStore.claim`)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # no other connection writes until we end
            try:
                row = self._db.execute(
                    f"SELECT record, claimed_by, claimed_until FROM {_TABLE} WHERE email_id = ?",
                    (email_id,),
                ).fetchone()
                if row is None or _live_claim(row[1], row[2]):
                    self._db.execute("ROLLBACK")
                    return None
                self._db.execute(
                    f"UPDATE {_TABLE} SET claimed_by = ?, claimed_until = ? WHERE email_id = ?",
                    (token, until, email_id),
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            return self._decode(email_id, row[0])

    def release(self, email_id: str, token: str) -> None:
        """Give back the claim ``token`` holds; another's claim is left alone."""
        with self._lock:
            self._db.execute(
                f"UPDATE {_TABLE} SET claimed_by = NULL, claimed_until = NULL"
                " WHERE email_id = ? AND claimed_by = ?",
                (email_id, token),
            )

    def quarantined(self) -> list[tuple[str, str, float]]:
        """The rows kept aside as unreadable: ``(email_id, problem, quarantined_at)``."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT email_id, problem, quarantined_at FROM {_QUARANTINE}"
                " ORDER BY quarantined_at"
            ).fetchall()
        return [(str(row[0]), str(row[1]), float(row[2])) for row in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def _decode(self, email_id: str, text: object) -> PendingRecord | None:
        # Called with the lock held.
        try:
            if not isinstance(text, str):
                raise ValueError("not text")
            return decode_record(text)
        except ValueError as exc:
            self._quarantine(email_id, str(exc))
            return None

    def _quarantine(self, email_id: str, problem: str) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                f"INSERT INTO {_QUARANTINE} SELECT email_id, recorded_at, record, ?, ?"
                f" FROM {_TABLE} WHERE email_id = ?",
                (problem, time.time(), email_id),
            )
            self._db.execute(f"DELETE FROM {_TABLE} WHERE email_id = ?", (email_id,))
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        # the id and our own words only: the row's text may hold anything
        logger.warning(
            "pending approval %r could not be read (%s); moved to %s in %s",
            str(email_id)[:80],
            problem,
            _QUARANTINE,
            self.path,
        )


def _live_claim(claimed_by: object, claimed_until: object) -> bool:
    if not isinstance(claimed_until, (int, float)) or claimed_until <= time.time():
        return False
    _, _, owner = str(claimed_by or "").partition("@")
    return owner_alive(owner)  # a claim whose process died is anyone's


def _make_private(path: str, *, create: bool = True) -> None:
    """Create ``path`` readable by its owner only, or make an existing file so."""
    if path == ":memory:" or path.startswith("file:") or path.startswith(":memory:"):
        return
    if create:  # before SQLite does, with the umask's default mode
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, _PRIVATE))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        try:
            os.chmod(path, mode & 0o700)
        except PermissionError:  # another user's file: report, do not fail the store
            logger.warning("%s is readable by others and could not be made private", path)
