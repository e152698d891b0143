"""`PostgresPendingStore`: pending approvals in PostgreSQL, shared by a whole fleet.

A claim locks the record's row (``SELECT ... FOR UPDATE``) and judges the live claim on it
by the database's ``now()``, so of several processes on several hosts exactly one delivers
a record. A row that cannot be read is moved to ``mm_pending_quarantine`` and logged by
email id only, so it never stops the valid ones.
"""

from __future__ import annotations

from dataclasses import replace

from mm_assistants.state.owners import token_alive
from mm_assistants.state.pending import PendingRecord, decode_record, encode_record
from mm_assistants.state.postgres.connection import (
    PostgresDatabase,
    database,
    quarantine,
    seconds_until,
)

TABLE = "mm_pending"
QUARANTINE = "mm_pending_quarantine"


class PostgresPendingStore:
    """A `PendingStore` in PostgreSQL (``str`` DSN, or a `PostgresDatabase` to share its
    pool with other stores).

    Example::

        store = PostgresPendingStore(os.environ["MM_ASSISTANTS_DSN"])
        dispatcher = Dispatcher(client, approval_store=store)
    """

    def __init__(self, dsn: str | PostgresDatabase) -> None:
        self.database = database(dsn)
        self._owned = not isinstance(dsn, PostgresDatabase)

    def __repr__(self) -> str:
        return f"PostgresPendingStore({self.database.where!r})"

    def add(self, record: PendingRecord) -> None:
        """Remember ``record`` (a second record of the same email keeps the first one's
        ``recorded_at`` and any live claim on it)."""
        with self.database.transaction() as conn:
            known = conn.execute(
                f"SELECT recorded_at FROM {TABLE} WHERE email_id = %s FOR UPDATE",
                (record.email_id,),
            ).fetchone()
            if known is not None:  # the email has been waited on since it was first held
                record = replace(record, recorded_at=float(known[0]))
            conn.execute(
                f"INSERT INTO {TABLE} (email_id, mailbox_id, record, recorded_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (email_id) DO UPDATE SET"
                " mailbox_id = excluded.mailbox_id, record = excluded.record",
                (record.email_id, record.mailbox_id, encode_record(record), record.recorded_at),
            )

    def all(self) -> list[PendingRecord]:
        """Every readable record, oldest first (unreadable rows are quarantined)."""
        with self.database.connection() as conn:
            rows = conn.execute(
                f"SELECT email_id, record FROM {TABLE} ORDER BY recorded_at, email_id"
            ).fetchall()
        return [record for row in rows if (record := self._decode(*row)) is not None]

    def for_mailbox(self, mailbox_id: str) -> list[PendingRecord]:
        """Every readable record of ``mailbox_id``, oldest first (by the
        ``mm_pending_mailbox`` index; a record naming another mailbox than its row's column,
        written by hand or by an attacker, is left out)."""
        with self.database.connection() as conn:
            rows = conn.execute(
                f"SELECT email_id, record FROM {TABLE} WHERE mailbox_id = %s"
                " ORDER BY recorded_at, email_id",
                (mailbox_id,),
            ).fetchall()
        records = [record for row in rows if (record := self._decode(*row)) is not None]
        return [record for record in records if record.mailbox_id == mailbox_id]

    def get(self, email_id: str) -> PendingRecord | None:
        """The record of ``email_id``, or ``None`` (also when it cannot be read)."""
        with self.database.connection() as conn:
            row = conn.execute(
                f"SELECT email_id, record FROM {TABLE} WHERE email_id = %s", (email_id,)
            ).fetchone()
        return None if row is None else self._decode(*row)

    def remove(self, email_id: str) -> None:
        """Forget the record of ``email_id`` once its decision was delivered."""
        with self.database.connection() as conn:
            conn.execute(f"DELETE FROM {TABLE} WHERE email_id = %s", (email_id,))

    def claim(self, email_id: str, token: str, *, until: float) -> PendingRecord | None:
        """Take the record for delivery until ``until`` (see `PendingStore.claim`); the
        lease is ``until`` minus this host's time, counted on the database's clock."""
        with self.database.transaction() as conn:
            row = conn.execute(
                f"SELECT record, claim_token, claimed_until > now() FROM {TABLE}"
                " WHERE email_id = %s FOR UPDATE",
                (email_id,),
            ).fetchone()
            if row is None or (row[2] and token_alive(row[1])):
                return None
            text = row[0]
            conn.execute(
                f"UPDATE {TABLE} SET claim_token = %s,"
                " claimed_until = now() + %s * interval '1 second' WHERE email_id = %s",
                (token, seconds_until(until), email_id),
            )
        return self._decode(email_id, text)

    def release(self, email_id: str, token: str) -> None:
        """Give back the claim ``token`` holds; another's claim is left alone."""
        with self.database.connection() as conn:
            conn.execute(
                f"UPDATE {TABLE} SET claim_token = NULL, claimed_until = NULL"
                " WHERE email_id = %s AND claim_token = %s",
                (email_id, token),
            )

    def quarantined(self) -> list[tuple[str, str, float]]:
        """The rows kept aside as unreadable: ``(email_id, problem, quarantined_at)``."""
        with self.database.connection() as conn:
            rows = conn.execute(
                f"SELECT email_id, problem, extract(epoch FROM quarantined_at) FROM {QUARANTINE}"
                " ORDER BY quarantined_at"
            ).fetchall()
        return [(str(row[0]), str(row[1]), float(row[2])) for row in rows]

    def close(self) -> None:
        """Close the pool this store opened from a DSN (a `PostgresDatabase` it was given
        belongs to the caller, who closes it)."""
        if self._owned:
            self.database.close()

    def _decode(self, email_id: str, text: object) -> PendingRecord | None:
        try:
            if not isinstance(text, str):
                raise ValueError("not text")
            record = decode_record(text)
            if record.email_id != email_id:
                raise ValueError("the record names another email")
        except ValueError as exc:
            quarantine(
                self.database,
                table=TABLE,
                into=QUARANTINE,
                key_column="email_id",
                columns=("email_id", "record", "recorded_at"),
                key=email_id,
                problem=str(exc),
                what="pending approval",
            )
            return None
        return record
