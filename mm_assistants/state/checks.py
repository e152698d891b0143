"""The fleet watcher's per-mailbox check rows: which mailbox's held mail is due a look, and
who is looking.

Instead of every approval wait polling its own email, one row per mailbox says when the
mailbox's held outbound mail is next due a look (``next_check_at``). Any process's sweep
claims due rows (`MailboxChecks.claim_due`; in PostgreSQL ``FOR UPDATE SKIP LOCKED``: no
leader, no session lock), looks, and hands the row back with the next interval
(`MailboxChecks.done`). A claim is a lease with a fencing token: a sweeper that died is
replaced when its lease lapses, and its late `done`, `renew` or `unwatch` changes nothing.
A long look keeps its claim by renewing the lease (`MailboxChecks.renew`). Intervals are seconds
from now, judged on the store's clock (the database's ``now()`` for a shared store).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Sequence
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

    def unwatch(self, mailbox_id: str, *, token: int | None = None) -> bool:
        """Drop the mailbox's row (nothing of it is held any more); whether a row went.
        With ``token`` (a sweeper's claim), only while that token is still the row's
        claim: a sweeper's stale view must not drop a row someone else claimed or
        registered again since. Without it, unconditionally (an operator's clean-up)."""

    def claim_due(self, owner: str, *, lease: float, limit: int) -> list[CheckLease]:
        """Claim up to ``limit`` rows that are due and not leased, for ``lease`` seconds,
        in ``owner``'s name; rows another caller is claiming right now are skipped, not
        waited for."""

    def done(self, lease: CheckLease, *, next_in: float, interval: float) -> bool:
        """End the claim: the row is next due in ``next_in`` seconds and remembers
        ``interval``. False, changing nothing, when ``lease`` is no longer the row's claim."""

    def renew(self, lease: CheckLease, *, seconds: float) -> bool:
        """Extend the claim to ``seconds`` from now (a look that takes long keeps its row).
        False, changing nothing, when ``lease`` is no longer the row's claim: the look
        must then stop, as someone else may be looking."""


def check_claim_args(*, lease: float, limit: int) -> None:
    """Refuse a `MailboxChecks.claim_due` that cannot mean anything (every backend)."""
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
        raise ValueError(f"lease must be a number of seconds > 0, not {lease!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be an int >= 1, not {limit!r}")


def check_lease_seconds(seconds: float) -> None:
    """Refuse a `MailboxChecks.renew` that cannot mean anything (finite seconds > 0)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise ValueError(f"seconds must be a number of seconds > 0, not {seconds!r}")
    if not math.isfinite(seconds) or not seconds > 0:
        raise ValueError(f"seconds is out of range: {seconds!r}")


def check_schedule(*, next_in: float, interval: float) -> None:
    """Refuse a schedule a row could not keep: ``next_in`` >= 0 and ``interval`` > 0,
    both finite."""
    for name, value, positive in (("next_in", next_in, False), ("interval", interval, True)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number of seconds, not {value!r}")
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise ValueError(f"{name} is out of range: {value!r}")


@dataclass
class _Row:
    next_at: float
    interval: float
    fence: int = 0
    owner: str | None = None
    leased_until: float | None = None


class MemoryMailboxChecks:
    """`MailboxChecks` in one process's memory (thread-safe; lost when the process ends).

    ``clock`` (seconds, `time.monotonic` by default) judges due rows and leases; tests pass
    a fake one. Example::

        checks = MemoryMailboxChecks()
        checks.watch(["mbx_1"], interval=5)
        for lease in checks.claim_due("worker-1", lease=60, limit=10):
            ...  # look at lease.mailbox_id's held mail
            checks.done(lease, next_in=10, interval=10)
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, _Row] = {}
        self._fences = itertools.count(1)  # tokens are never reused, even after unwatch

    def __repr__(self) -> str:
        with self._lock:
            return f"MemoryMailboxChecks(rows={len(self._rows)})"

    def watch(self, mailbox_ids: Sequence[str], *, interval: float) -> None:
        """See `MailboxChecks.watch`."""
        check_schedule(next_in=0.0, interval=interval)
        with self._lock:
            now = self._clock()
            for mailbox_id in mailbox_ids:
                self._rows.setdefault(str(mailbox_id), _Row(next_at=now, interval=interval))

    def unwatch(self, mailbox_id: str, *, token: int | None = None) -> bool:
        """See `MailboxChecks.unwatch`."""
        with self._lock:
            row = self._rows.get(mailbox_id)
            if row is None or (token is not None and row.fence != token):
                return False
            del self._rows[mailbox_id]
            return True

    def claim_due(self, owner: str, *, lease: float, limit: int) -> list[CheckLease]:
        """See `MailboxChecks.claim_due` (oldest due first)."""
        check_claim_args(lease=lease, limit=limit)
        with self._lock:
            now = self._clock()
            due = sorted(
                (row.next_at, mailbox_id)
                for mailbox_id, row in self._rows.items()
                if row.next_at <= now and (row.leased_until is None or row.leased_until <= now)
            )
            claimed = []
            for _, mailbox_id in due[:limit]:
                row = self._rows[mailbox_id]
                row.fence, row.owner = next(self._fences), owner
                row.leased_until = now + lease
                claimed.append(CheckLease(mailbox_id, row.fence, row.interval))
            return claimed

    def done(self, lease: CheckLease, *, next_in: float, interval: float) -> bool:
        """See `MailboxChecks.done`."""
        check_schedule(next_in=next_in, interval=interval)
        with self._lock:
            row = self._rows.get(lease.mailbox_id)
            if row is None or row.fence != lease.token:
                return False
            row.next_at = self._clock() + next_in
            row.interval, row.leased_until = interval, None
            return True

    def renew(self, lease: CheckLease, *, seconds: float) -> bool:
        """See `MailboxChecks.renew`."""
        check_lease_seconds(seconds)
        with self._lock:
            row = self._rows.get(lease.mailbox_id)
            if row is None or row.fence != lease.token:
                return False
            row.leased_until = self._clock() + seconds
            return True

    def due_at(self, mailbox_id: str) -> float | None:
        """When the mailbox is next due on this store's clock (``None``: not watched)."""
        with self._lock:
            row = self._rows.get(mailbox_id)
            return None if row is None else row.next_at
