"""Oversight decisions heard anywhere in a fleet, and the doorbell that announces them.

When one process learns that a held email was decided (a webhook, the fleet watcher, the
review page), it calls `DecisionStore.record`: the decision is kept (the system of record)
and every process listening is told the email's id (the doorbell). A process that hears the
bell reads the decision back with `DecisionStore.get_many`; a bell that rings late or not at
all costs latency only, because a wait reads the table after it subscribes and a listener
re-reads every id it waits on after it reconnects.

`MemoryDecisionStore` rings within one process; the PostgreSQL store
(`mm_assistants.state.postgres`) writes the row and its ``pg_notify`` in one transaction
and listens on one dedicated connection per process.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

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

    def record(self, email_id: str, data: Mapping[str, Any]) -> None:
        """Keep ``data`` (a decisive email record) as the decision of ``email_id``,
        replacing an earlier one, and ring the doorbell with ``email_id`` only once the
        record is durable."""

    def get_many(self, email_ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        """The decisions kept for those of ``email_ids`` that have one."""

    def listen(self, ring: Ring, reconnected: Reconnected) -> Listening:
        """Call ``ring(email_id)`` for every decision recorded from now on (by any
        process, for a shared store) and ``reconnected()`` each time the listener
        (re)connects, the first time included. Both are called from a thread of the
        store's and must not block for long."""
