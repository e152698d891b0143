"""The fleet watcher's per-mailbox check rows: which mailbox's held mail is due a look, and
who is looking.

Instead of every approval wait polling its own email, one row per mailbox says when the
mailbox's held outbound mail is next due a look (``next_check_at``). Any process's sweep
claims due rows (`MailboxChecks.claim_due`; in PostgreSQL ``FOR UPDATE SKIP LOCKED``: no
leader, no session lock), looks, and hands the row back with the next interval
(`MailboxChecks.done`). A claim is a lease with a fencing token: a sweeper that died is
replaced when its lease lapses, and its late `done` changes nothing. Intervals are seconds
from now, judged on the store's clock (the database's ``now()`` for a shared store).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CheckLease:
    """A claimed check: the mailbox, the fencing token to pass to `MailboxChecks.done`, and
    the interval the row was scheduled with (the base of the next backoff)."""

    mailbox_id: str
    token: int
    interval: float


class MailboxChecks(Protocol):
    """Per-mailbox check rows (see the module docstring)."""

    def watch(self, mailbox_ids: Sequence[str], *, interval: float) -> None:
        """Make sure each mailbox has a row; a new row is due now, with ``interval``. An
        existing row keeps its schedule."""

    def unwatch(self, mailbox_id: str) -> None:
        """Drop the mailbox's row (nothing of it is held any more)."""

    def claim_due(self, owner: str, *, lease: float, limit: int) -> list[CheckLease]:
        """Claim up to ``limit`` rows that are due and not leased, for ``lease`` seconds,
        in ``owner``'s name; rows another caller is claiming right now are skipped, not
        waited for."""

    def done(self, lease: CheckLease, *, next_in: float, interval: float) -> bool:
        """End the claim: the row is next due in ``next_in`` seconds and remembers
        ``interval``. False, changing nothing, when ``lease`` is no longer the row's claim."""
