"""The fleet watcher's decisions (pure): what one look at a mailbox's held mail costs,
what it may publish, and when the mailbox is due again.

One look at a mailbox lists its held outbound mail (``status=pending_send_approval``,
``direction=outbound``, every ``cursor`` page). An email still listed is still held: it
needs no request of its own. Exactly the pending records the list no longer shows are
fetched one by one, which includes those still ``pending_scan`` (the list shows only
``pending_send_approval``). A fetched record is published only when it shows a known final
status (`mm_assistants.approvals.watch.decisive`), never while held nor when ``unknown``.

Each mailbox keeps its own interval: back to ``min_interval`` when something was decided
or the held set changed, otherwise times ``multiplier`` up to ``max_interval``; a failed look
backs off too, and after a 429 the mailbox waits at least the ``Retry-After`` MultiMail
gave (capped at `MAX_RETRY_AFTER`: an absurd header must not silence a mailbox for days).

A sweeping process registers the mailboxes that have pending records at most every
`REGISTER_EVERY` seconds (`register_due`): the schedule lives in the shared rows, so a
registration per sweep would only write the same rows again. A look renews its claim once a
third of the lease has gone by (`renew_due`), and a process forgets the held set of a
mailbox it has not looked at for a while (`forgotten`), so its memory stays bounded.

The I/O is in `mm_assistants.approvals.fleet_watcher`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mm_assistants import _validate
from mm_assistants.approvals.watch import decisive
from mm_assistants.state.pending import PendingRecord

#: The status the list asks for: held outbound mail awaiting a human.
HELD_STATUS = "pending_send_approval"
#: Summaries per list page (MultiMail's largest).
PAGE_SIZE = 100
#: Pages one look follows at most (100,000 held emails), so a server that keeps handing
#: new cursors cannot keep a sweep busy for ever.
MAX_PAGES = 1000
#: The longest ``Retry-After`` honoured, in seconds.
MAX_RETRY_AFTER = 3600.0
#: Seconds between one process's registrations of the mailboxes with pending records.
REGISTER_EVERY = 30.0


@dataclass(frozen=True, kw_only=True)
class FleetSchedule:
    """How often a mailbox's held mail is looked at: from ``min_interval`` seconds, times
    ``multiplier`` after each look that found nothing new, up to ``max_interval``."""

    min_interval: float = 5.0
    max_interval: float = 120.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        _validate.number("FleetSchedule", "min_interval", self.min_interval, above=True)
        _validate.number(
            "FleetSchedule", "max_interval", self.max_interval, minimum=self.min_interval
        )
        _validate.number("FleetSchedule", "multiplier", self.multiplier, minimum=1)

    def backoff(self, interval: float) -> float:
        """The interval after ``interval`` when nothing changed."""
        return min(max(interval, self.min_interval) * self.multiplier, self.max_interval)


@dataclass(frozen=True)
class Page:
    """One page of the held list: the ids it shows held and the next page's cursor."""

    held: frozenset[str]
    cursor: str | None


@dataclass(frozen=True)
class Look:
    """What one look at a mailbox found: decisions published, whether the held set
    changed since this process last looked, whether a request failed, and the
    ``Retry-After`` of a 429 (``0.0`` when it gave none; ``None``: no 429)."""

    decided: int = 0
    held_changed: bool = False
    failed: bool = False
    retry_after: float | None = None


@dataclass(frozen=True)
class NextCheck:
    """When the mailbox is due again (``next_in`` seconds) and the interval it keeps."""

    next_in: float
    interval: float


def list_params(cursor: str | None = None) -> dict[str, str]:
    """The query of one page of the held list (the read-scoped ``check_inbox`` list)."""
    params = {"status": HELD_STATUS, "direction": "outbound", "limit": str(PAGE_SIZE)}
    if cursor is not None:
        params["cursor"] = cursor
    return params


def read_page(data: Any) -> Page:
    """The held ids and the next cursor of a list answer; `ValueError` when it is not one.

    A summary showing another status than held is left out (the email is then fetched and
    judged by its own record), and so is one without a string id.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("emails"), list):
        raise ValueError("not a list of emails")
    held = frozenset(
        summary["id"]
        for summary in data["emails"]
        if isinstance(summary, Mapping)
        and isinstance(summary.get("id"), str)
        and summary.get("status", HELD_STATUS) == HELD_STATUS
    )
    cursor = data.get("cursor")
    return Page(held, cursor if isinstance(cursor, str) and cursor else None)


def next_page(page: Page, seen: Collection[str], pages: int) -> str | None:
    """The cursor to follow after ``pages`` pages, or ``None`` to stop: no cursor, one
    already followed (a loop), or `MAX_PAGES` reached."""
    if page.cursor is None or page.cursor in seen or pages >= MAX_PAGES:
        return None
    return page.cursor


def by_mailbox(records: Iterable[PendingRecord]) -> dict[str, list[PendingRecord]]:
    """The pending records grouped by their mailbox."""
    grouped: dict[str, list[PendingRecord]] = {}
    for record in records:
        grouped.setdefault(record.mailbox_id, []).append(record)
    return grouped


def to_fetch(listed: Collection[str], records: Iterable[PendingRecord]) -> list[str]:
    """The email ids of ``records`` the list no longer shows held, once each, in order."""
    wanted: dict[str, None] = {}
    for record in records:
        if record.email_id not in listed:
            wanted.setdefault(record.email_id)
    return list(wanted)


def publishable(email_id: str, email: Any) -> bool:
    """Whether the fetched ``email`` may be published as ``email_id``'s decision: a record
    of that email (or one naming no id) that shows a known final status."""
    if not isinstance(email, Mapping) or email.get("id", email_id) != email_id:
        return False
    return decisive(email)


def held_digest(held: Iterable[str]) -> str:
    """A short fingerprint of a held set, to tell whether it changed between looks."""
    text = "\n".join(sorted(held))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def held_changed(previous: str | None, digest: str) -> bool:
    """Whether the held set changed since the last look (unknown before a first look)."""
    return previous is not None and previous != digest


def rate_limit_of(error: BaseException) -> float | None:
    """The seconds a 429 asks to wait (``0.0`` when it gave none, at most
    `MAX_RETRY_AFTER`), or ``None`` when ``error`` is no 429."""
    if getattr(error, "status", None) != 429:
        return None
    after = getattr(error, "retry_after", None)
    if isinstance(after, bool) or not isinstance(after, (int, float)) or math.isnan(after):
        return 0.0
    return min(max(float(after), 0.0), MAX_RETRY_AFTER)


def next_check(schedule: FleetSchedule, interval: float, look: Look) -> NextCheck:
    """When to look at the mailbox again after ``look``, from its current ``interval``."""
    if look.decided:
        kept = schedule.min_interval
    elif look.failed or look.retry_after is not None or not look.held_changed:
        kept = schedule.backoff(interval)
    else:
        kept = schedule.min_interval
    return NextCheck(_at_least(kept, look.retry_after), kept)


def deferred(interval: float, retry_after: float) -> NextCheck:
    """A claimed mailbox not looked at because MultiMail said 429 during this sweep: due
    no sooner than ``retry_after``, its interval unchanged."""
    return NextCheck(_at_least(interval, retry_after), interval)


def register_due(last: float | None, now: float, every: float) -> bool:
    """Whether a process that last registered at ``last`` (``None``: never) registers
    again at ``now``; a clock that went back counts as due, so it cannot silence it."""
    return last is None or not 0 <= now - last < every


def renew_due(renewed_at: float, now: float, lease: float) -> bool:
    """Whether a look's claim, last taken or renewed at ``renewed_at``, is renewed now:
    once a third of the ``lease`` is gone, leaving two thirds for the renewal itself."""
    return now - renewed_at >= lease / 3


def forgotten(looked_at: Mapping[str, float], now: float, after: float) -> list[str]:
    """The mailboxes last looked at more than ``after`` seconds before ``now``: their
    held-set digest is too old to tell a change from another process's looks."""
    return [mailbox_id for mailbox_id, at in looked_at.items() if now - at > after]


def _at_least(interval: float, retry_after: float | None) -> float:
    return interval if retry_after is None else max(interval, retry_after)
