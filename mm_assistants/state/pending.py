"""Pending approvals: the record of a held email whose decision must still reach its
conversation, and the protocol of the stores that keep them.

A record is written when an approval wait ends before the decision (the email is still
held) and removed once the decision was delivered. Several resolvers may look at once
(threads, processes, a webhook receiver and a sweep): each *claims* a record before
delivering it, atomically in every backend, so exactly one delivers it. What to deliver and
when is decided in `mm_assistants.approvals.store`; this module only keeps the records.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Protocol

from mm_assistants.state.owners import owner_alive


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
    # Set while a parked Responses run holds the call: its resume delivers the decision
    # as the call's output, so resolvers leave the record alone (issue 15).
    checkpoint_id: str | None = None

    def waited_on(self, now: float) -> bool:
        """Whether a live wait still follows this email, so nobody else should deliver it."""
        if self.waiting_until is None or self.waiting_until <= now:
            return False
        return owner_alive(self.owner)


class PendingStore(Protocol):
    """Where pending approvals wait for their decision (memory, SQLite, ...)."""

    def add(self, record: PendingRecord) -> None:
        """Remember ``record``. A second record of the same email replaces the first but
        keeps its ``recorded_at`` and any live claim on it."""

    def all(self) -> list[PendingRecord]:
        """Every readable record, oldest first."""

    def get(self, email_id: str) -> PendingRecord | None:
        """The record of ``email_id``, or ``None``."""

    def for_mailbox(self, mailbox_id: str) -> list[PendingRecord]:
        """Every readable record of ``mailbox_id``, oldest first: what the fleet watcher
        reads for one claimed mailbox instead of the whole store."""

    def remove(self, email_id: str) -> None:
        """Forget the record of ``email_id`` once its decision was delivered."""

    def claim(self, email_id: str, token: str, *, until: float) -> PendingRecord | None:
        """Take the record of ``email_id`` for delivery until ``until`` (unix seconds), as
        ``token``; atomic, so of several callers at most one gets it. Returns the record,
        or ``None`` when it is gone or another live claim holds it (an expired claim, or
        one whose process is gone, is taken over)."""

    def release(self, email_id: str, token: str) -> None:
        """Give back the claim ``token`` holds (its delivery failed); others' are kept."""


def encode_record(record: PendingRecord) -> str:
    """The stored JSON of ``record`` (read back by `decode_record`)."""
    return json.dumps(asdict(record))


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
