"""`SQLitePendingStore`: pending approvals in a SQLite file, found again after a restart.

A row that cannot be read (a hand edit, a half-written disk, an attacker with write access)
must not stop the valid ones from being delivered: it is moved to ``mm_pending_quarantine``
and logged by email id and a fixed description of the problem, never by its content.
Claims are compare-and-set updates in `Database.transaction`, so of several processes
sharing the file exactly one delivers a record.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from pathlib import Path

from mm_assistants.state.owners import claim_live
from mm_assistants.state.pending import PendingRecord, decode_record, encode_record
from mm_assistants.state.sqlite.connection import Database

TABLE = "mm_pending_approvals"
QUARANTINE = "mm_pending_quarantine"
#: 1: records, claims (``claimed_by``/``claimed_until``) and the quarantine.
SCHEMA_VERSION = 1


class SQLitePendingStore:
    """Pending approvals in a SQLite file, found again after a restart.

    Example::

        store = SQLitePendingStore("pending.db")     # created 0600
        dispatcher = Dispatcher(client, approval_store=store)
    """

    def __init__(self, path: str | Path) -> None:
        self._db = Database(path)
        self.path = self._db.path
        self._db.migrate("pending", SCHEMA_VERSION, _upgrade)

    def __repr__(self) -> str:
        return f"SQLitePendingStore({self.path!r})"

    def add(self, record: PendingRecord) -> None:
        """Remember ``record`` (a second record of the same email replaces the first, and
        leaves a live claim on it in place)."""
        with self._db.transaction() as db:
            known = db.execute(
                f"SELECT recorded_at FROM {TABLE} WHERE email_id = ?", (record.email_id,)
            ).fetchone()
            if known is not None:  # the email has been waited on since it was first held
                record = replace(record, recorded_at=float(known[0]))
            # An upsert, not INSERT OR REPLACE: replacing the row would clear the claim of a
            # resolver that is delivering it, and let a second resolver deliver it again.
            db.execute(
                f"INSERT INTO {TABLE} (email_id, recorded_at, record) VALUES (?, ?, ?) "
                "ON CONFLICT(email_id) DO UPDATE SET record = excluded.record",
                (record.email_id, record.recorded_at, encode_record(record)),
            )

    def all(self) -> list[PendingRecord]:
        """Every readable record, oldest first (unreadable rows are quarantined)."""
        with self._db.connection() as db:
            rows = db.execute(
                f"SELECT email_id, record FROM {TABLE} ORDER BY recorded_at"
            ).fetchall()
            return [record for row in rows if (record := self._decode(*row)) is not None]

    def for_mailbox(self, mailbox_id: str) -> list[PendingRecord]:
        """Every readable record of ``mailbox_id``, oldest first. The file keeps no mailbox
        column, so the JSON is asked (a row that is no JSON is skipped here, not failed on:
        `all` quarantines it); what comes back is checked again once decoded."""
        with self._db.connection() as db:
            rows = db.execute(
                f"SELECT email_id, record FROM {TABLE} WHERE CASE WHEN json_valid(record)"
                " THEN json_extract(record, '$.mailbox_id') END = ? ORDER BY recorded_at",
                (mailbox_id,),
            ).fetchall()
            records = [record for row in rows if (record := self._decode(*row)) is not None]
        return [record for record in records if record.mailbox_id == mailbox_id]

    def get(self, email_id: str) -> PendingRecord | None:
        """The record of ``email_id``, or ``None`` (also when it cannot be read)."""
        with self._db.connection() as db:
            row = db.execute(
                f"SELECT email_id, record FROM {TABLE} WHERE email_id = ?", (email_id,)
            ).fetchone()
            return None if row is None else self._decode(*row)

    def remove(self, email_id: str) -> None:
        """Forget the record of ``email_id`` once its decision was delivered."""
        with self._db.connection() as db:
            db.execute(f"DELETE FROM {TABLE} WHERE email_id = ?", (email_id,))

    def claim(self, email_id: str, token: str, *, until: float) -> PendingRecord | None:
        """Take the record for delivery (see `PendingStore.claim`)."""
        with self._db.transaction() as db:
            row = db.execute(
                f"SELECT record, claimed_by, claimed_until FROM {TABLE} WHERE email_id = ?",
                (email_id,),
            ).fetchone()
            if row is None or claim_live(row[1], row[2], time.time()):
                return None
            db.execute(
                f"UPDATE {TABLE} SET claimed_by = ?, claimed_until = ? WHERE email_id = ?",
                (token, until, email_id),
            )
        return self._decode(email_id, row[0])

    def release(self, email_id: str, token: str) -> None:
        """Give back the claim ``token`` holds; another's claim is left alone."""
        with self._db.connection() as db:
            db.execute(
                f"UPDATE {TABLE} SET claimed_by = NULL, claimed_until = NULL"
                " WHERE email_id = ? AND claimed_by = ?",
                (email_id, token),
            )

    def quarantined(self) -> list[tuple[str, str, float]]:
        """The rows kept aside as unreadable: ``(email_id, problem, quarantined_at)``."""
        with self._db.connection() as db:
            rows = db.execute(
                f"SELECT email_id, problem, quarantined_at FROM {QUARANTINE}"
                " ORDER BY quarantined_at"
            ).fetchall()
        return [(str(row[0]), str(row[1]), float(row[2])) for row in rows]

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _decode(self, email_id: str, text: object) -> PendingRecord | None:
        try:
            if not isinstance(text, str):
                raise ValueError("not text")
            return decode_record(text)
        except ValueError as exc:
            self._db.quarantine(
                table=TABLE,
                into=QUARANTINE,
                key_column="email_id",
                columns=("email_id", "recorded_at", "record"),
                key=email_id,
                problem=str(exc),
                what="pending approval",
            )
            return None


def _upgrade(db: sqlite3.Connection, found: int) -> None:
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        " email_id TEXT PRIMARY KEY, recorded_at REAL NOT NULL, record TEXT NOT NULL)"
    )
    columns = {row[1] for row in db.execute(f"PRAGMA table_info({TABLE})")}
    for column, kind in (("claimed_by", "TEXT"), ("claimed_until", "REAL")):
        if column not in columns:  # a file from before claims existed
            db.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column} {kind}")
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {QUARANTINE} (email_id TEXT, recorded_at REAL,"
        " record TEXT, problem TEXT NOT NULL, quarantined_at REAL NOT NULL)"
    )
