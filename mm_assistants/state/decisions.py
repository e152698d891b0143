"""Oversight decisions heard anywhere in a fleet, and the doorbell that announces them.

When one process learns that a held email was decided (a webhook, the fleet watcher, the
review page), it calls `DecisionStore.record`: the decision is kept (the system of record)
and every process listening is told the email's id (the doorbell). A record carries a
``rank`` (how final it is; the caller computes it, e.g.
``mm_assistants.approvals.watch.decision_rank``) and never replaces a kept decision of
higher rank: a delayed or retried webhook saying "approved" cannot overwrite the
``send_failed`` another process read since. A process that hears the
bell reads the decision back with `DecisionStore.get_many`; a bell that rings late or not at
all costs latency only, because a wait reads the table after it subscribes and a listener
re-reads every id it waits on after it reconnects.

`MemoryDecisionStore` rings within one process; the PostgreSQL store
(`mm_assistants.state.postgres`) writes the row and its ``pg_notify`` in one transaction
and listens on one dedicated connection per process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol, TypeGuard

#: What a listener calls with the id of a decided email.
Ring = Callable[[str], None]
#: What a listener calls after it (re)connected: notifications may have been missed.
Reconnected = Callable[[], None]


class Listening(Protocol):
    """A running listener; `close` stops it."""

    def close(self) -> None:
        """Stop listening (idempotent)."""


class DecisionStore(Protocol):
    """The fleet's record of decisions (see the module docstring)."""

    def record(self, email_id: str, data: Mapping[str, Any], *, rank: int = 0) -> bool:
        """Keep ``data`` (a decisive email record) as the decision of ``email_id`` unless
        the decision kept has a higher ``rank`` (equal ranks replace: the latest evidence
        wins), and ring the doorbell with ``email_id`` once the record is durable. Returns
        whether ``data`` was kept; a refused record changes nothing and rings nobody."""

    def get_many(self, email_ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        """The decisions kept for those of ``email_ids`` that have one."""

    def listen(self, ring: Ring, reconnected: Reconnected) -> Listening:
        """Call ``ring(email_id)`` for every decision recorded from now on (by any
        process, for a shared store) and ``reconnected()`` each time the listener
        (re)connects, the first time included. Both are called from a thread of the
        store's and must not block for long."""


#: The longest email id a store accepts or a listener passes on.
MAX_EMAIL_ID = 256
#: The highest rank a store accepts (PostgreSQL keeps it in an ``integer``).
MAX_RANK = 2**31 - 1


def plausible_email_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` may be an email id: a string of 1 to `MAX_EMAIL_ID` printable
    ASCII characters without whitespace.

    A doorbell's payload comes from anyone who can notify on the channel: anything else is
    dropped unread (and never logged), and a store refuses to record it.
    """
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_EMAIL_ID
        and all("!" <= char <= "~" for char in value)
    )


def checked_email_id(email_id: object) -> str:
    """``email_id`` when `plausible_email_id`, else a `ValueError` (that never repeats it:
    it may be anything)."""
    if not plausible_email_id(email_id):
        raise ValueError(
            f"email_id must be 1 to {MAX_EMAIL_ID} printable ASCII characters without whitespace"
        )
    return email_id


def checked_rank(rank: object) -> int:
    """``rank`` when it is an int from 0 to `MAX_RANK` (not a bool), else a `ValueError`."""
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank <= MAX_RANK:
        raise ValueError(f"rank must be an int from 0 to {MAX_RANK}")
    return rank


def encode_decision(data: Mapping[str, Any]) -> str:
    """``data`` as the JSON text every backend keeps (a `TypeError` when it is not a JSON
    object), so a memory store hands back what a database would."""
    if not isinstance(data, Mapping):
        raise TypeError(f"a decision must be a mapping, not {type(data).__name__}")
    return json.dumps(dict(data), separators=(",", ":"), sort_keys=True)


class _MemoryListening:
    def __init__(self, drop: Callable[[], None]) -> None:
        self._drop = drop

    def close(self) -> None:
        self._drop()


class MemoryDecisionStore:
    """A `DecisionStore` for one process: decisions kept in a dict, the doorbell rung
    synchronously (on the thread that records, after the write) for every listener.

    Example::

        store = MemoryDecisionStore()
        hub = ApprovalHub(store)  # mm_assistants.approvals
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, tuple[int, str]] = {}  # email id: (rank, JSON text)
        self._listeners: list[tuple[Ring, Reconnected]] = []

    def __repr__(self) -> str:
        with self._lock:
            return f"MemoryDecisionStore(decisions={len(self._records)})"

    def record(self, email_id: str, data: Mapping[str, Any], *, rank: int = 0) -> bool:
        """Keep ``data`` as the decision of ``email_id`` unless the one kept has a higher
        ``rank``, then ring every listener; whether it was kept."""
        checked_email_id(email_id)
        checked_rank(rank)
        encoded = encode_decision(data)
        with self._lock:
            kept = self._records.get(email_id)
            if kept is not None and kept[0] > rank:
                return False
            self._records[email_id] = (rank, encoded)
            listeners = list(self._listeners)
        for ring, _ in listeners:
            ring(email_id)
        return True

    def get_many(self, email_ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        """The decisions kept for those of ``email_ids`` that have one (fresh copies)."""
        with self._lock:
            found = {key: self._records[key][1] for key in email_ids if key in self._records}
        return {key: json.loads(text) for key, text in found.items()}

    def listen(self, ring: Ring, reconnected: Reconnected) -> Listening:
        """Ring ``ring`` for every decision recorded from now on; ``reconnected()`` is
        called once, before this returns (a memory store never disconnects)."""
        listener = (ring, reconnected)
        with self._lock:
            self._listeners.append(listener)
        reconnected()
        return _MemoryListening(lambda: self._drop(listener))

    def _drop(self, listener: tuple[Ring, Reconnected]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)
