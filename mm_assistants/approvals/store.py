"""Pending approvals that outlive their run, kept until their decision is delivered.

When a wait reaches its deadline the email is still held; the run's tool output says so
and the approval is recorded here. Later, `resolve_pending` (or a driver) looks each one
up again and hands the decision to the thread or a callback. `MemoryPendingStore` keeps
records for the life of the process; `SQLitePendingStore` (in `approvals.sqlite_store`)
survives a restart.

Several resolvers may run at once (threads, processes, a webhook receiver and a sweep):
each *claims* a decided record before delivering it (`PendingStore.claim`, atomic in every
backend), so exactly one of them delivers it. A claim lasts `CLAIM_SECONDS` or until its
holder's process is gone; a delivery that fails releases it for the next try.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

from mm_assistants.approvals.watch import ApprovalOutcome, outcome_from_email


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
        return owner_alive(self.owner)


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

    def claim(self, email_id: str, token: str, *, until: float) -> PendingRecord | None:
        """Take the record of ``email_id`` for delivery until ``until`` (unix seconds), as
        ``token``; atomic, so of several callers at most one gets it. Returns the record,
        or ``None`` when it is gone or another live claim holds it (an expired claim, or
        one whose process is gone, is taken over)."""

    def release(self, email_id: str, token: str) -> None:
        """Give back the claim ``token`` holds (its delivery failed); others' are kept."""


class MemoryPendingStore:
    """Pending approvals in memory (lost when the process ends)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, PendingRecord] = {}
        self._claims: dict[str, tuple[str, float]] = {}

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
            self._claims.pop(email_id, None)

    def claim(self, email_id: str, token: str, *, until: float) -> PendingRecord | None:
        with self._lock:
            record = self._records.get(email_id)
            held = self._claims.get(email_id)
            if record is None or (held is not None and held[1] > time.time()):
                return None
            self._claims[email_id] = (token, until)
            return record

    def release(self, email_id: str, token: str) -> None:
        with self._lock:
            held = self._claims.get(email_id)
            if held is not None and held[0] == token:
                del self._claims[email_id]


#: How long a claim holds before another resolver may take the record over.
CLAIM_SECONDS = 300.0


def current_owner() -> str:
    """This process, as a record's ``owner``: ``"host:pid"``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process ``owner`` (``"host:pid"``) may still be running: on this host
    it is asked; another host's process is trusted to be alive (its deadline decides)."""
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
    an oversight event's data when ``woken_by="webhook"``), or ``None`` while there is no
    last word to tell (still held, scheduled and not yet approved, an unknown status) or
    it could not be looked up: the record then stays for a later decision."""
    if email is None:
        return None
    outcome = outcome_from_email(
        record.email_id,
        email,
        waited=time.time() - record.recorded_at,
        status_checks=0 if woken_by == "webhook" else 1,
        woken_by=woken_by,
    )
    return outcome if outcome.settled else None


def claim(store: PendingStore, record: PendingRecord) -> str | None:
    """Claim ``record`` for delivery: the claim's token, or ``None`` when another resolver
    (or a live wait) has it. Deliver under `holding`, which removes or releases it."""
    token = secrets.token_hex(8) + "@" + current_owner()
    taken = store.claim(record.email_id, token, until=time.time() + CLAIM_SECONDS)
    if taken is None:
        return None
    if taken.waited_on(time.time()):  # a wait took it since the record was read
        store.release(record.email_id, token)
        return None
    return token


@contextmanager
def holding(store: PendingStore, email_id: str, token: str) -> Iterator[None]:
    """Deliver inside this block: the record is removed when the block ends normally, and
    its claim released when the block raises (the delivery is tried again later)."""
    try:
        yield
    except BaseException:
        store.release(email_id, token)
        raise
    store.remove(email_id)


def resolve_pending(
    store: PendingStore,
    fetch: Callable[[str, str], Mapping[str, Any] | None],
    deliver: Callable[[PendingRecord, ApprovalOutcome], None],
) -> list[ApprovalOutcome]:
    """Look up every recorded approval once; deliver and forget the decided ones.

    Each decided record is claimed first, so of several resolvers running at once exactly
    one delivers it. ``deliver`` runs before the record is removed, so a crash in between
    delivers twice at worst (once its claim expired), never zero times; a ``deliver`` that
    raises releases the claim and keeps the record for next time. Returns the outcomes
    delivered.
    """
    delivered = []
    for record in store.all():
        if record.waited_on(time.time()):
            continue  # its own wait will hand the decision to the model
        outcome = late_outcome(record, fetch(record.email_id, record.mailbox_id))
        if outcome is None:
            continue
        token = claim(store, record)
        if token is None:
            continue  # another resolver delivers it
        with holding(store, record.email_id, token):
            deliver(record, outcome)
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
    pending (its own wait took the decision), the record still reads as undecided, or
    another resolver claimed it. As in `resolve_pending`, the record is removed only after
    ``deliver`` returned.
    """
    due = decision_due(store, email_id, email)
    if due is None:
        return None
    record, outcome, token = due
    with holding(store, email_id, token):
        deliver(record, outcome)
    return outcome


def decision_due(
    store: PendingStore, email_id: str, email: Mapping[str, Any]
) -> tuple[PendingRecord, ApprovalOutcome, str] | None:
    """The record, outcome and claim token to deliver a decision a webhook brought, or
    ``None``: no record waits for ``email_id``, a live wait owns it, it still reads as
    undecided, or another resolver claimed it. Deliver under `holding`. The one decision
    behind `resolve_decision` and the async drivers' twin of it."""
    record = store.get(email_id)
    if record is None or record.waited_on(time.time()):
        return None
    outcome = late_outcome(record, email, woken_by="webhook")
    if outcome is None:
        return None
    token = claim(store, record)
    return None if token is None else (record, outcome, token)


def decode_record(text: str) -> PendingRecord:
    """A `PendingRecord` from its stored JSON; fields a newer version added are ignored.
    Raises `ValueError` with a fixed message (never the text, which may hold anything)."""
    try:
        data = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        raise ValueError("not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    values = {name: data[name] for name in _FIELDS if name in data}
    for name, kinds in _FIELDS.items():
        value = values.get(name)
        if name in _REQUIRED and value is None:
            raise ValueError("a required field is missing")
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            raise ValueError("a field has the wrong type")
    return PendingRecord(**values)


_REQUIRED = ("email_id", "mailbox_id", "call_id", "tool")
_FIELDS: dict[str, tuple[type, ...]] = {
    item.name: (int, float) if item.name in ("recorded_at", "waiting_until") else (str,)
    for item in fields(PendingRecord)
}
