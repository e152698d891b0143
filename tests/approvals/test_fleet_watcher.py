"""`FleetWatcher` against a faked MultiMail (respx): what a sweep costs, what it publishes,
how it backs off, and what it never asks for."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import respx

from mm_assistants import MultiMailClient, load_registry
from mm_assistants.approvals import ApprovalHub, MemoryPendingStore
from mm_assistants.approvals.fleet_watcher import FleetWatcher
from mm_assistants.multimail.retries import RetryPolicy
from mm_assistants.state.checks import MemoryMailboxChecks
from mm_assistants.state.pending import PendingRecord

BASE = "https://api.multimail.test"
HELD = "pending_send_approval"


class FakeMultiMail:
    """MultiMail's inbox list and single-email read for a few mailboxes, counting what it
    is asked; ``limited`` makes the next requests answer 429 with that Retry-After."""

    def __init__(self) -> None:
        self.emails: dict[str, dict[str, dict[str, Any]]] = {}
        self.requests: list[httpx.Request] = []
        self.limited: float | None = None
        self.odd = False  # lists answer something that is no list

    def hold(
        self, mailbox_id: str, count: int, prefix: str = "em", status: str = HELD
    ) -> list[str]:
        box = self.emails.setdefault(mailbox_id, {})
        ids = [f"{prefix}_{n:03d}" for n in range(count)]
        for email_id in ids:
            box[email_id] = {"id": email_id, "status": status, "direction": "outbound"}
        return ids

    def decide(self, mailbox_id: str, email_id: str, **fields: Any) -> None:
        self.emails[mailbox_id][email_id].update(fields)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.limited is not None:
            return httpx.Response(
                429, json={"error": "slow down"}, headers={"Retry-After": str(int(self.limited))}
            )
        parts = [unquote(p) for p in request.url.raw_path.decode().split("?")[0].split("/")]
        # /v1/mailboxes/{mailbox}/emails[/{email}]
        box = self.emails.get(parts[3], {})
        if len(parts) == 6:
            email = box.get(parts[5])
            if email is None:
                return httpx.Response(404, json={"error": "Email not found"})
            return httpx.Response(200, json=email)
        if self.odd:
            return httpx.Response(200, json=["odd"])
        query = request.url.params
        held = [
            e
            for e in box.values()
            if e["status"] == query.get("status") and e["direction"] == query.get("direction")
        ]
        start = int(query.get("cursor") or 0)
        size = int(query["limit"])
        page = held[start : start + size]
        cursor = str(start + size) if start + size < len(held) else None
        return httpx.Response(
            200,
            json={
                "emails": [{"id": e["id"], "status": e["status"]} for e in page],
                "cursor": cursor,
            },
        )

    def count(self) -> tuple[int, int]:
        """(list pages, single-email fetches) asked since the last count."""
        pages = sum(1 for r in self.requests if r.url.path.endswith("/emails"))
        fetches = len(self.requests) - pages
        self.requests.clear()
        return pages, fetches


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mail() -> Iterator[FakeMultiMail]:
    fake = FakeMultiMail()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=fake)
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def parts(
    mail: FakeMultiMail, clock: Clock
) -> Iterator[tuple[FleetWatcher, MemoryPendingStore, MemoryMailboxChecks, ApprovalHub]]:
    pending, checks, hub = MemoryPendingStore(), MemoryMailboxChecks(clock=clock), ApprovalHub()
    with MultiMailClient(
        api_key="mm_live_secret", base_url=BASE, retry=RetryPolicy.none()
    ) as client:
        yield (
            FleetWatcher(client, pending, checks, hub, owner="w1", clock=clock),
            pending,
            checks,
            hub,
        )


def wait_on(pending: MemoryPendingStore, mailbox_id: str, ids: list[str]) -> None:
    for email_id in ids:
        pending.add(PendingRecord(email_id, mailbox_id, f"call_{email_id}", "send_email"))


def test_250_held_emails_cost_3_pages_and_no_fetch_while_nothing_is_decided(
    parts: Any, mail: FakeMultiMail, clock: Clock
) -> None:
    watcher, pending, checks, _ = parts
    wait_on(pending, "mbx_1", mail.hold("mbx_1", 250))
    report = watcher.sweep()
    assert (report.mailboxes, report.pages, report.fetches, report.published, report.errors) == (
        1,
        3,
        0,
        0,
        0,
    )
    assert mail.count() == (3, 0)
    assert checks.due_at("mbx_1") == clock.now + 10  # nothing new: 5 s doubled
    assert watcher.sweep().requests == 0  # not due yet
    clock.now += 10
    assert watcher.sweep().requests == 3
    assert checks.due_at("mbx_1") == clock.now + 20


def test_three_decisions_cost_three_fetches_and_are_published_once_each(
    parts: Any, mail: FakeMultiMail, clock: Clock
) -> None:
    watcher, pending, checks, hub = parts
    ids = mail.hold("mbx_1", 250)
    wait_on(pending, "mbx_1", ids)
    watcher.sweep()
    mail.count()
    mail.decide("mbx_1", ids[7], status="rejected", rejection_reason="tone")
    mail.decide("mbx_1", ids[100], status="read", approved_at="2026-11-28T10:00:00Z")
    mail.decide("mbx_1", ids[249], status="cancelled")
    woken = [hub.subscribe(email_id) for email_id in (ids[7], ids[100], ids[249], ids[0])]
    clock.now += 10
    report = watcher.sweep()
    assert (report.pages, report.fetches, report.published) == (3, 3, 3)
    assert mail.count() == (3, 3)
    assert [w.decision is not None for w in woken] == [True, True, True, False]
    assert woken[0].decision is not None
    assert woken[0].decision["rejection_reason"] == "tone"
    assert checks.due_at("mbx_1") == clock.now + 5  # decisions came: back to the minimum
    # once the hub knows a decision, a later look does not fetch it again
    clock.now += 5
    assert (watcher.sweep().fetches, mail.count()) == (0, (3, 0))


def test_an_unknown_or_still_held_status_is_never_published(
    parts: Any, mail: FakeMultiMail, clock: Clock
) -> None:
    watcher, pending, _, hub = parts
    ids = mail.hold("mbx_1", 2)
    wait_on(pending, "mbx_1", ids)
    mail.decide("mbx_1", ids[0], status="approved")  # no evidence: unknown
    mail.decide("mbx_1", ids[1], status="read")
    report = watcher.sweep()
    assert (report.fetches, report.published) == (2, 0)
    assert hub.current(ids[0]) is None
    assert hub.current(ids[1]) is None


def test_a_record_still_pending_scan_is_fetched_until_it_is_listed(
    parts: Any, mail: FakeMultiMail, clock: Clock
) -> None:
    watcher, pending, _, hub = parts
    [scanning] = mail.hold("mbx_1", 1, prefix="scan", status="pending_scan")
    wait_on(pending, "mbx_1", [scanning])
    report = watcher.sweep()
    assert (report.pages, report.fetches, report.published) == (1, 1, 0)
    mail.decide("mbx_1", scanning, status=HELD)
    clock.now += 60
    assert (watcher.sweep().fetches, hub.current(scanning)) == (0, None)


def test_the_requests_are_the_read_scoped_list_and_read_never_the_oversight_queue(
    parts: Any, mail: FakeMultiMail
) -> None:
    watcher, pending, _, _ = parts
    ids = mail.hold("mbx_1", 120)
    wait_on(pending, "mbx_1", [*ids, "em_gone"])
    watcher.sweep()
    registry = load_registry("v1")
    listing = registry.bind(
        "check_inbox", {"status": HELD, "direction": "outbound", "limit": 100}, mailbox_id="mbx_1"
    )
    second = registry.bind(
        "check_inbox",
        {"status": HELD, "direction": "outbound", "limit": 100, "cursor": "100"},
        mailbox_id="mbx_1",
    )
    read = registry.bind("read_email", {"email_id": "em_gone"}, mailbox_id="mbx_1")
    seen = [(r.method, r.url.path, dict(r.url.params)) for r in mail.requests]
    assert seen == [
        (listing.method, listing.path, listing.params),
        (second.method, second.path, second.params),
        (read.method, read.path, read.params),
    ]
    assert not any("oversight" in r.url.path for r in mail.requests)


def test_an_id_from_the_database_names_one_path_segment(parts: Any, mail: FakeMultiMail) -> None:
    watcher, pending, _, _ = parts
    wait_on(pending, "mbx_1", ["../../oversight/pending"])
    watcher.sweep()
    assert [r.url.raw_path.decode() for r in mail.requests][
        -1
    ] == "/v1/mailboxes/mbx_1/emails/..%2F..%2Foversight%2Fpending"


def test_a_429_stops_the_sweep_and_each_mailbox_waits_out_its_retry_after(
    parts: Any, mail: FakeMultiMail, clock: Clock
) -> None:
    watcher, pending, checks, _ = parts
    for mailbox_id in ("mbx_1", "mbx_2", "mbx_3"):
        wait_on(pending, mailbox_id, mail.hold(mailbox_id, 3, prefix=mailbox_id))
    mail.limited = 90
    report = watcher.sweep()
    assert report.rate_limited
    assert report.errors == 1
    assert mail.count() == (1, 0)  # the first refusal ends the sweep's requests
    assert [checks.due_at(m) for m in ("mbx_1", "mbx_2", "mbx_3")] == [clock.now + 90] * 3
    mail.limited = None
    clock.now += 89
    assert watcher.sweep().requests == 0
    clock.now += 1
    assert watcher.sweep().mailboxes == 3


def test_a_failed_look_backs_off(
    parts: Any, mail: FakeMultiMail, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    watcher, pending, checks, _ = parts
    wait_on(pending, "mbx_404", ["em_1"])  # the fake knows no such mailbox: no list
    report = watcher.sweep()
    assert (report.fetches, report.errors) == (1, 1)  # listed nothing; the fetch fails
    assert checks.due_at("mbx_404") == clock.now + 10
    assert "mm_live_secret" not in caplog.text


def test_an_odd_list_answer_is_an_error_not_a_crash(
    parts: Any, mail: FakeMultiMail, clock: Clock
) -> None:
    watcher, pending, checks, _ = parts
    wait_on(pending, "mbx_1", ["em_1"])
    mail.odd = True
    report = watcher.sweep()
    assert (report.mailboxes, report.pages, report.fetches, report.errors) == (1, 1, 0, 1)
    assert checks.due_at("mbx_1") == clock.now + 10


def test_a_mailbox_with_nothing_pending_is_unwatched(parts: Any, mail: FakeMultiMail) -> None:
    watcher, pending, checks, _ = parts
    checks.watch(["mbx_old"], interval=5)
    wait_on(pending, "mbx_1", mail.hold("mbx_1", 1))
    report = watcher.sweep()
    assert (report.mailboxes, report.unwatched) == (1, 1)
    assert checks.due_at("mbx_old") is None
    pending.remove("em_000")
    report = watcher.sweep()
    assert report.unwatched == 0  # mbx_1 is not due yet; dropped when it is
    assert checks.due_at("mbx_1") is not None


def test_requests_grow_with_mailboxes_not_with_waiting_runs(
    parts: Any, mail: FakeMultiMail
) -> None:
    watcher, pending, _, hub = parts
    for mailbox_id in ("mbx_1", "mbx_2"):
        wait_on(pending, mailbox_id, mail.hold(mailbox_id, 30, prefix=mailbox_id))
    waits = [hub.subscribe(record.email_id) for record in pending.all() for _ in range(5)]
    report = watcher.sweep()
    assert (report.mailboxes, report.requests) == (2, 2)
    assert len(waits) == 300


def test_run_forever_sweeps_until_stopped(parts: Any, mail: FakeMultiMail) -> None:
    watcher, pending, _, _ = parts
    wait_on(pending, "mbx_1", mail.hold("mbx_1", 1))
    stop = threading.Event()
    worker = threading.Thread(target=watcher.run_forever, args=(stop,), kwargs={"every": 0.01})
    worker.start()
    try:
        for _ in range(500):
            if mail.requests:
                break
            stop.wait(0.01)
    finally:
        stop.set()
        worker.join(timeout=5)
    assert not worker.is_alive()
    assert mail.requests


def test_run_forever_outlives_a_failing_store(
    mail: FakeMultiMail, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(MemoryPendingStore):
        def all(self) -> list[PendingRecord]:
            self.calls = getattr(self, "calls", 0) + 1
            raise ConnectionError("postgresql://app:hunter2@db/prod unreachable")

    store = Broken()
    with MultiMailClient(api_key="k", base_url=BASE) as client:
        watcher = FleetWatcher(client, store, MemoryMailboxChecks(), ApprovalHub())
        stop = threading.Event()
        worker = threading.Thread(target=watcher.run_forever, args=(stop,), kwargs={"every": 0.01})
        worker.start()
        for _ in range(500):
            if getattr(store, "calls", 0) >= 2:
                break
            stop.wait(0.01)
        stop.set()
        worker.join(timeout=5)
    assert store.calls >= 2
    assert "hunter2" not in caplog.text
    assert "ConnectionError" in caplog.text
    assert "FleetWatcher(owner=" in repr(watcher)


# --- database load, fencing, lease renewal, bounded memory (review 1, finding 13) ---


class CountingPending(MemoryPendingStore):
    """Notes every read: (method, mailbox or None, records handed back)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[str, str | None, int]] = []

    def all(self) -> list[PendingRecord]:
        records = super().all()
        self.reads.append(("all", None, len(records)))
        return records

    def for_mailbox(self, mailbox_id: str) -> list[PendingRecord]:
        records = super().for_mailbox(mailbox_id)
        self.reads.append(("for_mailbox", mailbox_id, len(records)))
        return records


class CountingChecks(MemoryMailboxChecks):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.watches = 0

    def watch(self, mailbox_ids: Any, *, interval: float) -> None:
        self.watches += 1
        super().watch(mailbox_ids, interval=interval)


def test_a_sweep_reads_only_its_claimed_mailbox_and_registers_every_30_s(
    mail: FakeMultiMail, clock: Clock
) -> None:
    pending, checks = CountingPending(), CountingChecks(clock)
    boxes = [f"mbx_{n}" for n in range(5)]
    for mailbox_id in boxes:
        wait_on(pending, mailbox_id, mail.hold(mailbox_id, 200, prefix=mailbox_id))
    with MultiMailClient(api_key="k", base_url=BASE, retry=RetryPolicy.none()) as client:
        watcher = FleetWatcher(
            client, pending, checks, ApprovalHub(), owner="w1", limit=1, clock=clock
        )
        watcher.sweep()  # the first sweep registers (one read of everything) and looks
        assert (checks.watches, pending.reads) == (
            1,
            [("all", None, 1000), ("for_mailbox", "mbx_0", 200)],
        )
        for mailbox_id in boxes[1:]:  # within 30 s: no registration, one mailbox each
            pending.reads.clear()
            clock.now += 1
            assert watcher.sweep().mailboxes == 1
            assert pending.reads == [("for_mailbox", mailbox_id, 200)]
        assert checks.watches == 1
        clock.now += 30
        pending.reads.clear()
        watcher.sweep()
        assert checks.watches == 2
        assert [read[0] for read in pending.reads].count("all") == 1


def test_a_new_mailbox_is_registered_within_register_every(
    parts: Any, mail: FakeMultiMail, clock: Clock
) -> None:
    watcher, pending, checks, _ = parts
    watcher.sweep()  # nothing pending yet: registers nothing
    wait_on(pending, "mbx_new", mail.hold("mbx_new", 1))
    clock.now += 29
    assert (watcher.sweep().mailboxes, checks.due_at("mbx_new")) == (0, None)
    clock.now += 1
    assert watcher.sweep().mailboxes == 1


def test_a_sweep_whose_claim_lapsed_does_not_drop_the_new_claimants_row(
    mail: FakeMultiMail, clock: Clock
) -> None:
    stolen: list[Any] = []

    class SlowChecks(MemoryMailboxChecks):
        """After w1's claim, time passes past its lease and w2 claims the row."""

        def claim_due(self, owner: str, *, lease: float, limit: int) -> list[Any]:
            leases = super().claim_due(owner, lease=lease, limit=limit)
            if owner == "w1" and leases:
                clock.now += lease + 1
                stolen.extend(super().claim_due("w2", lease=60, limit=limit))
            return leases

    checks = SlowChecks(clock=clock)
    checks.watch(["mbx_empty"], interval=5)  # registered; its last record since went
    with MultiMailClient(api_key="k", base_url=BASE, retry=RetryPolicy.none()) as client:
        watcher = FleetWatcher(
            client, MemoryPendingStore(), checks, ApprovalHub(), owner="w1", clock=clock
        )
        report = watcher.sweep()
    assert report.unwatched == 0
    assert checks.due_at("mbx_empty") is not None  # w2's row is still there
    [theirs] = stolen
    assert checks.done(theirs, next_in=5, interval=5)  # and still w2's claim


class PagingClient:
    """MultiMail stand-in on the test's clock: each request takes ``takes`` seconds; the
    mailbox holds ``held`` emails (100 a page) and ``decided`` shows as sent."""

    def __init__(self, clock: Clock, held: int, takes: float, decided: str) -> None:
        self.clock, self.held, self.takes, self.decided = clock, held, takes, decided
        self.paths: list[str] = []
        self.during: list[Any] = []  # hooks run at each request, before it is answered

    def request(self, method: str, path: str, *, params: Any = None) -> Any:
        self.paths.append(path)
        for hook in self.during:
            hook(len(self.paths))
        self.clock.now += self.takes

        class Answer:
            data: Any

        answer = Answer()
        if path.endswith("/emails"):
            start = int((params or {}).get("cursor") or 0)
            ids = [f"em_{n:03d}" for n in range(start, min(start + 100, self.held))]
            more = start + 100 < self.held
            answer.data = {
                "emails": [{"id": i} for i in ids],
                "cursor": str(start + 100) if more else None,
            }
        else:
            answer.data = {"id": self.decided, "status": "rejected"}
        return answer


def test_a_long_look_renews_its_claim_so_nobody_else_looks_meanwhile(clock: Clock) -> None:
    checks, pending, hub = MemoryMailboxChecks(clock=clock), MemoryPendingStore(), ApprovalHub()
    client = PagingClient(clock, held=450, takes=15, decided="em_gone")  # 5 pages, 75 s
    wait_on(pending, "mbx_1", ["em_000", "em_gone"])
    grabbed: list[Any] = []
    client.during.append(lambda n: grabbed.extend(checks.claim_due("w2", lease=60, limit=1)))
    watcher = FleetWatcher(client, pending, checks, hub, owner="w1", lease=60, clock=clock)
    report = watcher.sweep()
    assert (report.pages, report.fetches, report.published, report.lost) == (5, 1, 1, 0)
    assert grabbed == []  # 75 s look on a 60 s lease: renewed, never claimable
    assert checks.due_at("mbx_1") == clock.now + 5  # and w1 handed it back itself


def test_a_look_whose_renewal_fails_stops_and_the_next_look_redoes_it(clock: Clock) -> None:
    checks, pending, hub = MemoryMailboxChecks(clock=clock), MemoryPendingStore(), ApprovalHub()
    client = PagingClient(clock, held=450, takes=1, decided="em_gone")
    wait_on(pending, "mbx_1", ["em_000", "em_gone"])
    theirs: list[Any] = []

    def stall(n: int) -> None:  # during page 2 w1 stalls past its lease; w2 takes the row
        if n == 2:
            clock.now += 61
            theirs.extend(checks.claim_due("w2", lease=60, limit=1))

    client.during.append(stall)
    watcher = FleetWatcher(client, pending, checks, hub, owner="w1", lease=60, clock=clock)
    report = watcher.sweep()
    assert (report.pages, report.fetches, report.published, report.lost) == (2, 0, 0, 1)
    assert hub.current("em_gone") is None  # nothing half-decided was published
    [lease] = theirs
    assert checks.done(lease, next_in=0, interval=5)  # w2's claim was left alone
    client.during.clear()
    report = watcher.sweep()  # the next look does it all again
    assert (report.pages, report.published, hub.current("em_gone") is not None) == (5, 1, True)


def test_held_sets_of_mailboxes_not_looked_at_for_a_while_are_forgotten(
    parts: Any, mail: FakeMultiMail, clock: Clock
) -> None:
    watcher, pending, checks, _ = parts
    watcher.limit = 100
    boxes = [f"mbx_{n:02d}" for n in range(50)]
    for mailbox_id in boxes:
        wait_on(pending, mailbox_id, mail.hold(mailbox_id, 1, prefix=mailbox_id))
    assert watcher.sweep().mailboxes == 50
    assert len(watcher._held) == 50
    for mailbox_id in boxes:  # another process delivered them all and dropped the rows
        pending.remove(f"{mailbox_id}_000")
        checks.unwatch(mailbox_id)
    clock.now += watcher.forget_after + 1
    watcher.sweep()
    assert watcher._held == {}
