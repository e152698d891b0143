"""Pending approvals that outlive their run, kept until their decision is delivered.

When a wait reaches its deadline the email is still held; the run's tool output says so
and the approval is recorded here. Later, `resolve_pending` (or a driver) looks each one
up again and hands the decision to the thread or a callback. `MemoryPendingStore` keeps
records for the life of the process; `SQLitePendingStore` survives a restart.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from mm_assistants.approvals.watch import ApprovalOutcome, classify, outcome_from_email


@dataclass(frozen=True)
class PendingRecord:
    """One held email whose decision must still reach its conversation."""

    email_id: str
    mailbox_id: str
    call_id: str
    tool: str
    thread_id: str | None = None  # the OpenAI thread (Assistants)
    run_id: str | None = None
    response_id: str | None = None  # the Responses turn that sent it
    recorded_at: float = field(default_factory=time.time)
    # While a wait follows the email, it owns the record until ``waiting_until``; if its
    # process dies first (``owner`` is "host:pid"), the record is anyone's to resolve.
    waiting_until: float | None = None
    owner: str | None = None

    def waited_on(self, now: float) -> bool:
        """Whether a live wait still follows this email, so nobody else should deliver it."""
        if self.waiting_until is None or self.waiting_until <= now:
            return False
        return _owner_alive(self.owner)


class PendingStore(Protocol):
    """Where pending approvals wait for their decision."""

    def add(self, record: PendingRecord) -> None:
        """Remember ``record`` (a second record of the same email replaces the first)."""

    def all(self) -> list[PendingRecord]:
        """Every record, oldest first."""

    def get(self, email_id: str) -> PendingRecord | None:
        """The record of ``email_id``, or ``None``."""

    def remove(self, email_id: str) -> None:
        """Forget the record of ``email_id`` once its decision was delivered."""


class MemoryPendingStore:
    """Pending approvals in memory (lost when the process ends)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, PendingRecord] = {}

    def add(self, record: PendingRecord) -> None:
        with self._lock:
            known = self._records.get(record.email_id)
            if known is not None:  # the email has been waited on since it was first held
                record = replace(record, recorded_at=known.recorded_at)
            self._records[record.email_id] = record

    def all(self) -> list[PendingRecord]:
        with self._lock:
            return sorted(self._records.values(), key=lambda r: r.recorded_at)

    def get(self, email_id: str) -> PendingRecord | None:
        with self._lock:
            return self._records.get(email_id)

    def remove(self, email_id: str) -> None:
        with self._lock:
            self._records.pop(email_id, None)


class SQLitePendingStore:
    """Pending approvals in a SQLite file, found again after a restart."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS mm_pending_approvals ("
            " email_id TEXT PRIMARY KEY, recorded_at REAL NOT NULL, record TEXT NOT NULL)"
        )

    def __repr__(self) -> str:
        return f"SQLitePendingStore({self.path!r})"

    def add(self, record: PendingRecord) -> None:
        with self._lock:
            known = self._db.execute(
                "SELECT recorded_at FROM mm_pending_approvals WHERE email_id = ?",
                (record.email_id,),
            ).fetchone()
            if known is not None:  # the email has been waited on since it was first held
                record = replace(record, recorded_at=float(known[0]))
            self._db.execute(
                "INSERT OR REPLACE INTO mm_pending_approvals VALUES (?, ?, ?)",
                (record.email_id, record.recorded_at, json.dumps(asdict(record))),
            )

    def all(self) -> list[PendingRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM mm_pending_approvals ORDER BY recorded_at"
            ).fetchall()
        return [PendingRecord(**json.loads(row[0])) for row in rows]

    def get(self, email_id: str) -> PendingRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM mm_pending_approvals WHERE email_id = ?", (email_id,)
            ).fetchone()
        return PendingRecord(**json.loads(row[0])) if row is not None else None

    def remove(self, email_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM mm_pending_approvals WHERE email_id = ?", (email_id,))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def current_owner() -> str:
    """This process, as a record's ``owner``: ``"host:pid"``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str | None) -> bool:
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process: trust its deadline
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def late_outcome(
    record: PendingRecord, email: Mapping[str, Any] | None, *, woken_by: str = "poll"
) -> ApprovalOutcome | None:
    """The outcome to deliver for ``record`` given its email's record now (looked up, or
    an oversight event's data when ``woken_by="webhook"``), or ``None`` while it is still
    held (or could not be looked up)."""
    if email is None or classify(email) == "pending":
        return None
    return outcome_from_email(
        record.email_id,
        email,
        waited=time.time() - record.recorded_at,
        status_checks=0 if woken_by == "webhook" else 1,
        woken_by=woken_by,
    )


def resolve_pending(
    store: PendingStore,
    fetch: Callable[[str, str], Mapping[str, Any] | None],
    deliver: Callable[[PendingRecord, ApprovalOutcome], None],
) -> list[ApprovalOutcome]:
    """Look up every recorded approval once; deliver and forget the decided ones.

    ``deliver`` runs before the record is removed, so a crash in between delivers twice
    at worst, never zero times; a ``deliver`` that raises keeps the record for next time.
    Returns the outcomes delivered.
    """
    delivered = []
    now = time.time()
    for record in store.all():
        if record.waited_on(now):
            continue  # its own wait will hand the decision to the model
        outcome = late_outcome(record, fetch(record.email_id, record.mailbox_id))
        if outcome is None:
            continue
        deliver(record, outcome)
        store.remove(record.email_id)
        delivered.append(outcome)
    return delivered


def resolve_decision(
    store: PendingStore,
    email_id: str,
    email: Mapping[str, Any],
    deliver: Callable[[PendingRecord, ApprovalOutcome], None],
) -> ApprovalOutcome | None:
    """Deliver a decision a webhook brought about ``email_id``, when a record waits for it.

    ``email`` is the decided email's record (e.g. `mm_assistants.webhooks.feed.decision_record`
    of the event). Returns the outcome delivered, or ``None`` when no run left that email
    pending (its own wait took the decision) or the record still reads as held. As in
    `resolve_pending`, the record is removed only after ``deliver`` returned.
    """
    due = decision_due(store, email_id, email)
    if due is None:
        return None
    record, outcome = due
    deliver(record, outcome)
    store.remove(email_id)
    return outcome


def decision_due(
    store: PendingStore, email_id: str, email: Mapping[str, Any]
) -> tuple[PendingRecord, ApprovalOutcome] | None:
    """The record and outcome to deliver for a decision a webhook brought, or ``None``:
    no record waits for ``email_id``, a live wait owns it, or it still reads as held.
    The one decision behind `resolve_decision` and the async drivers' twin of it."""
    record = store.get(email_id)
    if record is None or record.waited_on(time.time()):
        return None
    outcome = late_outcome(record, email, woken_by="webhook")
    return None if outcome is None else (record, outcome)
