"""`FleetWatcher`: one look per mailbox instead of one poll per wait (the I/O shell).

Where MultiMail's webhooks are missing or lost, a process (any number of them) runs
`FleetWatcher.sweep` every second or so. Every ``register_every`` seconds (not every
sweep) a process registers the mailboxes that have pending records (`MailboxChecks.watch`).
A sweep claims the rows that are due (shared rows: no two sweepers look at one mailbox at
once, and none waits for another), reads the pending records of those mailboxes only
(`PendingStore.for_mailbox`), and for each lists its held outbound mail with the
read-scoped inbox list, following every page, then fetches exactly the pending records the
list no longer shows and publishes those that are decided through the hub (with a fleet
hub this records the decision and wakes every process's waits). The row is handed back
with the mailbox's next interval (`mm_assistants.approvals.fleet`, where every decision of
a look is made); a mailbox with nothing pending is dropped, fenced by the claim's token. So
MultiMail requests grow with mailboxes, pages and decisions, never with waiting runs: 250
held emails in one mailbox cost 3 list requests per look however many runs wait on them.

A long look renews its claim between requests; if the renewal fails (the lease lapsed and
another sweeper took the row), the look stops where it is and hands nothing back: what it
did not decide yet, the other sweeper's look decides.

It never touches the oversight queue: a worker holds a read-scoped key only.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from mm_assistants.approvals import fleet
from mm_assistants.approvals.hub import ApprovalHub
from mm_assistants.state.checks import CheckLease, MailboxChecks
from mm_assistants.state.owners import current_owner
from mm_assistants.state.pending import PendingRecord, PendingStore

logger = logging.getLogger("mm_assistants.approvals")

#: The inbox list (``check_inbox``) and one email (``read_email``), as the registry binds
#: them; ids are quoted, so an id read from a database names one path segment only.
LIST_PATH = "/v1/mailboxes/{mailbox_id}/emails"
EMAIL_PATH = "/v1/mailboxes/{mailbox_id}/emails/{email_id}"


class Answer(Protocol):
    """What a client's request returns (`mm_assistants.multimail.ApiResponse`)."""

    @property
    def data(self) -> Any:
        """The decoded JSON answer."""


class Requester(Protocol):
    """The client a watcher needs: `mm_assistants.MultiMailClient` is one. Its errors
    carry ``status`` and ``retry_after`` (a 429's ``Retry-After``)."""

    def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None) -> Answer:
        """One GET of MultiMail's API."""


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did: mailboxes looked at, list pages and single-email fetches
    requested, decisions published, requests that failed, mailboxes dropped (nothing of
    theirs is pending any more), whether MultiMail answered 429 (the sweep stopped there
    and handed the rest of its mailboxes back for after the ``Retry-After``), and looks
    stopped because their claim could not be renewed (another sweeper holds the row)."""

    mailboxes: int = 0
    pages: int = 0
    fetches: int = 0
    published: int = 0
    errors: int = 0
    unwatched: int = 0
    rate_limited: bool = False
    lost: int = 0

    @property
    def requests(self) -> int:
        """MultiMail requests the sweep made."""
        return self.pages + self.fetches


class _Tally:
    def __init__(self) -> None:
        self.mailboxes = self.pages = self.fetches = self.published = 0
        self.errors = self.unwatched = self.lost = 0
        self.rate_limited = False

    def report(self) -> SweepReport:
        return SweepReport(
            mailboxes=self.mailboxes,
            pages=self.pages,
            fetches=self.fetches,
            published=self.published,
            errors=self.errors,
            unwatched=self.unwatched,
            rate_limited=self.rate_limited,
            lost=self.lost,
        )


class _LeaseLost(Exception):
    """The look's claim could not be renewed: stop looking, hand nothing back."""


@dataclass
class _Claim:
    lease: CheckLease
    renewed_at: float  # on the watcher's clock: when the claim was taken or last renewed


class FleetWatcher:
    """Looks for the decisions of held emails, one mailbox at a time (module docstring).

    ``client`` needs only read scope. ``checks`` is shared by every sweeping process (the
    fleet's `PostgresMailboxChecks`); ``owner`` names this sweeper in it (host, pid and a
    random part by default). A claim lasts ``lease`` seconds and a look renews it once a
    third of it is gone. ``limit`` is the most mailboxes one sweep claims. Mailboxes with
    pending records are registered every ``register_every`` seconds (a new one waits at
    most that long for its first look). The held set of a mailbox this process has not
    looked at for ``forget_after`` seconds (5 x ``max_interval`` by default) is forgotten.
    ``clock`` (`time.monotonic`) times these; tests pass a fake one. Example, in a worker::

        watcher = FleetWatcher(MultiMailClient(), pending, PostgresMailboxChecks(dsn), hub)
        stop = threading.Event()
        threading.Thread(target=watcher.run_forever, args=(stop,), daemon=True).start()
    """

    def __init__(
        self,
        client: Requester,
        pending: PendingStore,
        checks: MailboxChecks,
        hub: ApprovalHub,
        *,
        owner: str | None = None,
        lease: float = 60.0,
        min_interval: float = 5.0,
        max_interval: float = 120.0,
        limit: int = 10,
        register_every: float = fleet.REGISTER_EVERY,
        forget_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.schedule = fleet.FleetSchedule(min_interval=min_interval, max_interval=max_interval)
        self.client = client
        self.pending = pending
        self.checks = checks
        self.hub = hub
        self.owner = owner or f"{current_owner()}/{uuid.uuid4().hex[:8]}"
        self.lease = lease
        self.limit = limit
        self.register_every = register_every
        self.forget_after = 5 * max_interval if forget_after is None else forget_after
        self.clock = clock
        self._registered_at: float | None = None
        # mailbox -> (digest of its held set, when) at this process's last look at it
        self._held: dict[str, tuple[str, float]] = {}

    def __repr__(self) -> str:
        return f"FleetWatcher(owner={self.owner!r}, checks={self.checks!r})"

    def sweep(self) -> SweepReport:
        """Look at the mailboxes that are due (module docstring); what it cost."""
        tally = _Tally()
        self._register()
        leases = self.checks.claim_due(self.owner, lease=self.lease, limit=self.limit)
        claimed_at = self.clock()
        retry_after: float | None = None
        for lease in leases:
            if retry_after is not None:  # MultiMail said 429: no more requests this sweep
                self._hand_back(lease, fleet.deferred(lease.interval, retry_after))
                continue
            # read after the claim, so "nothing pending" is no older than the claim
            records = self.pending.for_mailbox(lease.mailbox_id)
            if not records:
                # fenced: if our lease lapsed and the row is someone else's now, it stays
                if self.checks.unwatch(lease.mailbox_id, token=lease.token):
                    tally.unwatched += 1
                self._held.pop(lease.mailbox_id, None)
                continue
            tally.mailboxes += 1
            try:
                look = self._look(_Claim(lease, claimed_at), records, tally)
            except _LeaseLost:
                tally.lost += 1
                continue
            self._hand_back(lease, fleet.next_check(self.schedule, lease.interval, look))
            retry_after = look.retry_after
        tally.rate_limited = retry_after is not None
        return tally.report()

    def _register(self) -> None:
        """Every ``register_every`` seconds: forget old held sets and make sure every
        mailbox with pending records has a row (a row keeps its schedule)."""
        now = self.clock()
        if not fleet.register_due(self._registered_at, now, self.register_every):
            return
        looked_at = {mailbox_id: at for mailbox_id, (_, at) in self._held.items()}
        for mailbox_id in fleet.forgotten(looked_at, now, self.forget_after):
            del self._held[mailbox_id]
        mailboxes = sorted({record.mailbox_id for record in self.pending.all()})
        if mailboxes:
            self.checks.watch(mailboxes, interval=self.schedule.min_interval)
        self._registered_at = now  # only once it worked: a failed one is tried next sweep

    def run_forever(self, stop: threading.Event, every: float = 1.0) -> None:
        """Sweep every ``every`` seconds until ``stop`` is set (for a worker thread). A
        failed sweep (the database away) is logged and tried again."""
        while not stop.is_set():
            try:
                self.sweep()
            except Exception as error:  # noqa: BLE001 -- a worker thread must outlive a bad sweep; logged
                logger.warning("fleet sweep failed (%s); trying again", type(error).__name__)
            stop.wait(every)

    def _look(self, claim: _Claim, records: Sequence[PendingRecord], tally: _Tally) -> fleet.Look:
        """One look (module docstring); raises `_LeaseLost` when the claim is gone."""
        mailbox_id = claim.lease.mailbox_id
        try:
            listed = self._list_held(claim, tally)
        except _LeaseLost:
            raise
        except Exception as error:  # noqa: BLE001 -- one mailbox's failure must not end the sweep; counted
            return fleet.Look(failed=True, retry_after=self._failed(mailbox_id, error, tally))
        digest = fleet.held_digest(listed)
        previous = self._held.get(mailbox_id)
        changed = fleet.held_changed(None if previous is None else previous[0], digest)
        self._held[mailbox_id] = (digest, self.clock())
        decided, failed = 0, False
        for email_id in fleet.to_fetch(listed, records):
            if self._already_known(email_id):
                continue  # decided and recorded already: no request needed
            self._keep(claim)
            try:
                tally.fetches += 1
                email = self._get(EMAIL_PATH, mailbox_id=mailbox_id, email_id=email_id)
                if fleet.publishable(email_id, email):
                    self.hub.publish(email_id, email)
                    decided += 1
                    tally.published += 1
            except Exception as error:  # noqa: BLE001 -- one email's failure must not hide the others; counted
                failed = True
                retry_after = self._failed(mailbox_id, error, tally)
                if retry_after is not None:  # rate limited: no more requests now
                    return fleet.Look(decided, changed, failed, retry_after)
        return fleet.Look(decided, changed, failed)

    def _list_held(self, claim: _Claim, tally: _Tally) -> frozenset[str]:
        mailbox_id = claim.lease.mailbox_id
        held: set[str] = set()
        seen: set[str] = set()
        cursor: str | None = None
        pages = 0
        while True:
            self._keep(claim)
            pages += 1
            tally.pages += 1
            data = self._get(LIST_PATH, fleet.list_params(cursor), mailbox_id=mailbox_id)
            page = fleet.read_page(data)
            held |= page.held
            cursor = fleet.next_page(page, seen, pages)
            if cursor is None:
                return frozenset(held)
            seen.add(cursor)

    def _get(self, template: str, params: Mapping[str, str] | None = None, **ids: str) -> Any:
        path = template.format(**{name: quote(value, safe="") for name, value in ids.items()})
        return self.client.request("GET", path, params=params).data

    def _keep(self, claim: _Claim) -> None:
        """Renew the claim once a third of the lease is gone (`fleet.renew_due`); raise
        `_LeaseLost` when it cannot be: the row may be another sweeper's now."""
        now = self.clock()
        if not fleet.renew_due(claim.renewed_at, now, self.lease):
            return
        try:
            kept = self.checks.renew(claim.lease, seconds=self.lease)
        except Exception as error:  # noqa: BLE001 -- an unknown claim is treated as lost; logged
            logger.warning(
                "fleet watcher: renewing the claim on mailbox %r failed (%s)",
                claim.lease.mailbox_id,
                type(error).__name__,
            )
            kept = False
        if not kept:
            logger.info(
                "fleet watcher: lost the claim on mailbox %r mid-look; stopping it",
                claim.lease.mailbox_id,
            )
            raise _LeaseLost
        claim.renewed_at = now

    def _already_known(self, email_id: str) -> bool:
        current = getattr(self.hub, "current", None)
        return current is not None and current(email_id) is not None

    def _failed(self, mailbox_id: str, error: Exception, tally: _Tally) -> float | None:
        """Count and log a failed request; a 429's ``Retry-After`` (else ``None``)."""
        tally.errors += 1
        # the type and status only: a message may quote what the server sent
        logger.warning(
            "fleet watcher: a look at mailbox %r failed (%s, status %s)",
            mailbox_id,
            type(error).__name__,
            getattr(error, "status", None),
        )
        return fleet.rate_limit_of(error)

    def _hand_back(self, lease: CheckLease, when: fleet.NextCheck) -> None:
        if not self.checks.done(lease, next_in=when.next_in, interval=when.interval):
            logger.info(
                "fleet watcher: mailbox %r was claimed by another sweeper", lease.mailbox_id
            )
