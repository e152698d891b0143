"""The `MailboxChecks` contract, on memory and on a throwaway PostgreSQL.

Each backend comes with a way to let time pass: the memory store's fake clock moves, the
PostgreSQL store (judged by the database's ``now()``) really waits, so its leases and
intervals in these tests are a fraction of a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from mm_assistants.state.checks import CheckLease, MailboxChecks, MemoryMailboxChecks

#: Seconds the tests' leases and intervals last (real time on PostgreSQL).
TICK = 0.3


@dataclass
class Checks:
    store: MailboxChecks
    wait: Callable[[float], None]  # let this many seconds pass on the store's clock
    make_other: Callable[[], MailboxChecks]  # the same rows, as another process sees them


def _memory() -> Iterator[Checks]:
    now = [1000.0]
    store = MemoryMailboxChecks(clock=lambda: now[0])

    def wait(seconds: float) -> None:
        now[0] += seconds

    yield Checks(store, wait, lambda: store)


def _postgres(dsn: str) -> Iterator[Checks]:
    from mm_assistants.state.postgres.checks import PostgresMailboxChecks
    from mm_assistants.state.postgres.connection import PostgresDatabase

    dbs = [PostgresDatabase(dsn), PostgresDatabase(dsn)]
    try:
        yield Checks(
            PostgresMailboxChecks(dbs[0]), time.sleep, lambda: PostgresMailboxChecks(dbs[1])
        )
    finally:
        for db in dbs:
            db.close()


@pytest.fixture(params=["memory", "postgres"])
def checks(request: pytest.FixtureRequest) -> Iterator[Checks]:
    if request.param == "memory":
        yield from _memory()
    else:
        yield from _postgres(request.getfixturevalue("pg_dsn"))


def claimed(leases: list[CheckLease]) -> list[str]:
    return sorted(lease.mailbox_id for lease in leases)


def test_a_watched_mailbox_is_due_at_once_and_claimed_once(checks: Checks) -> None:
    checks.store.watch(["mbx_a", "mbx_b"], interval=TICK)
    first = checks.store.claim_due("one", lease=60, limit=10)
    assert claimed(first) == ["mbx_a", "mbx_b"]
    assert {lease.interval for lease in first} == {TICK}
    assert checks.store.claim_due("two", lease=60, limit=10) == []  # leased: not due again


def test_claim_due_takes_at_most_limit(checks: Checks) -> None:
    checks.store.watch([f"mbx_{n}" for n in range(5)], interval=TICK)
    assert len(checks.store.claim_due("one", lease=60, limit=2)) == 2
    assert len(checks.store.claim_due("two", lease=60, limit=10)) == 3


def test_watch_keeps_an_existing_schedule(checks: Checks) -> None:
    checks.store.watch(["mbx_a"], interval=TICK)
    [lease] = checks.store.claim_due("one", lease=60, limit=10)
    assert checks.store.done(lease, next_in=60, interval=40)
    checks.store.watch(["mbx_a"], interval=TICK)  # the next sweep registers it again
    assert checks.store.claim_due("one", lease=60, limit=10) == []


def test_done_schedules_the_next_look_and_remembers_the_interval(checks: Checks) -> None:
    checks.store.watch(["mbx_a"], interval=TICK)
    [lease] = checks.store.claim_due("one", lease=60, limit=10)
    assert checks.store.done(lease, next_in=2 * TICK, interval=7.5)
    assert checks.store.claim_due("one", lease=60, limit=10) == []
    checks.wait(TICK)
    assert checks.store.claim_due("one", lease=60, limit=10) == []  # not yet
    checks.wait(1.5 * TICK)
    [again] = checks.store.claim_due("one", lease=60, limit=10)
    assert again.interval == 7.5
    assert again.token > lease.token


def test_a_lapsed_lease_is_claimable_again_with_a_larger_token(checks: Checks) -> None:
    checks.store.watch(["mbx_a"], interval=TICK)
    [dead] = checks.store.claim_due("one", lease=TICK, limit=10)
    checks.wait(1.5 * TICK)
    [alive] = checks.store.claim_due("two", lease=60, limit=10)
    assert alive.mailbox_id == "mbx_a"
    assert alive.token > dead.token


def test_done_with_a_stale_token_changes_nothing(checks: Checks) -> None:
    checks.store.watch(["mbx_a"], interval=TICK)
    [dead] = checks.store.claim_due("one", lease=TICK, limit=10)
    checks.wait(1.5 * TICK)
    [alive] = checks.store.claim_due("two", lease=60, limit=10)
    assert not checks.store.done(dead, next_in=0, interval=1)
    # the live claim still holds: nobody else gets the row, and its own done works
    assert checks.store.claim_due("three", lease=60, limit=10) == []
    assert checks.store.done(alive, next_in=0, interval=1)
    assert claimed(checks.store.claim_due("three", lease=60, limit=10)) == ["mbx_a"]


def test_unwatch_drops_the_row_and_a_late_done_with_it(checks: Checks) -> None:
    checks.store.watch(["mbx_a", "mbx_b"], interval=TICK)
    leases = checks.store.claim_due("one", lease=60, limit=10)
    checks.store.unwatch("mbx_a")
    by_id = {lease.mailbox_id: lease for lease in leases}
    assert not checks.store.done(by_id["mbx_a"], next_in=0, interval=1)
    assert checks.store.done(by_id["mbx_b"], next_in=0, interval=1)
    assert claimed(checks.store.claim_due("one", lease=60, limit=10)) == ["mbx_b"]
    checks.store.unwatch("mbx_never")  # nothing to drop: no error


def test_a_fenced_unwatch_drops_the_row_only_for_its_claim(checks: Checks) -> None:
    checks.store.watch(["mbx_a"], interval=TICK)
    [dead] = checks.store.claim_due("one", lease=TICK, limit=10)
    checks.wait(1.5 * TICK)
    other = checks.make_other()
    [alive] = other.claim_due("two", lease=60, limit=10)
    # the first sweeper's stale view ("nothing pending") must not drop the live claim
    assert not checks.store.unwatch("mbx_a", token=dead.token)
    assert other.done(alive, next_in=0, interval=1)
    assert other.unwatch("mbx_a", token=alive.token)  # its own claim: the row goes
    assert not other.unwatch("mbx_a", token=alive.token)  # gone already


def test_a_fenced_unwatch_spares_a_row_registered_again(checks: Checks) -> None:
    checks.store.watch(["mbx_a"], interval=TICK)
    [stale] = checks.store.claim_due("one", lease=60, limit=10)
    other = checks.make_other()
    assert other.unwatch("mbx_a")  # unfenced: an operator's clean-up
    other.watch(["mbx_a"], interval=TICK)  # mail is held there again
    assert not checks.store.unwatch("mbx_a", token=stale.token)
    assert claimed(other.claim_due("two", lease=60, limit=10)) == ["mbx_a"]


def test_renew_keeps_a_long_look_s_claim(checks: Checks) -> None:
    checks.store.watch(["mbx_a"], interval=TICK)
    [lease] = checks.store.claim_due("one", lease=2 * TICK, limit=10)
    checks.wait(TICK)
    assert checks.store.renew(lease, seconds=4 * TICK)
    checks.wait(1.5 * TICK)  # past the first lease, inside the renewed one
    assert checks.make_other().claim_due("two", lease=60, limit=10) == []
    assert checks.store.done(lease, next_in=0, interval=1)  # the token still holds


def test_renew_fails_once_another_sweeper_holds_the_row(checks: Checks) -> None:
    checks.store.watch(["mbx_a"], interval=TICK)
    [dead] = checks.store.claim_due("one", lease=TICK, limit=10)
    checks.wait(1.5 * TICK)
    other = checks.make_other()
    [alive] = other.claim_due("two", lease=60, limit=10)
    assert not checks.store.renew(dead, seconds=60)
    assert other.renew(alive, seconds=60)
    checks.store.unwatch("mbx_a")
    assert not other.renew(alive, seconds=60)  # no row: nothing to keep


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), True])
def test_a_meaningless_renewal_is_refused(checks: Checks, seconds: float) -> None:
    checks.store.watch(["mbx_a"], interval=TICK)
    [lease] = checks.store.claim_due("one", lease=60, limit=10)
    with pytest.raises(ValueError, match="seconds"):
        checks.store.renew(lease, seconds=seconds)


def test_another_process_sees_the_same_rows(checks: Checks) -> None:
    checks.store.watch(["mbx_a"], interval=TICK)
    other = checks.make_other()
    [lease] = other.claim_due("two", lease=60, limit=10)
    assert checks.store.claim_due("one", lease=60, limit=10) == []
    assert checks.store.done(lease, next_in=0, interval=1)  # the token is the row's, anywhere
    assert claimed(other.claim_due("two", lease=60, limit=10)) == ["mbx_a"]


@pytest.mark.parametrize(
    ("lease", "limit"),
    [
        pytest.param(0, 1, id="no-lease"),
        pytest.param(-1, 1, id="negative-lease"),
        pytest.param(True, 1, id="bool-lease"),
        pytest.param(60, 0, id="no-limit"),
        pytest.param(60, 1.5, id="float-limit"),
    ],
)
def test_a_meaningless_claim_is_refused(checks: Checks, lease: float, limit: int) -> None:
    with pytest.raises(ValueError, match=r"lease|limit"):
        checks.store.claim_due("one", lease=lease, limit=limit)


@pytest.mark.parametrize(
    ("next_in", "interval"),
    [
        pytest.param(-1, 5, id="negative-next"),
        pytest.param(float("nan"), 5, id="nan-next"),
        pytest.param(0, 0, id="no-interval"),
        pytest.param(0, float("inf"), id="endless-interval"),
    ],
)
def test_a_schedule_a_row_cannot_keep_is_refused(
    checks: Checks, next_in: float, interval: float
) -> None:
    checks.store.watch(["mbx_a"], interval=TICK)
    [lease] = checks.store.claim_due("one", lease=60, limit=10)
    with pytest.raises(ValueError, match=r"next_in|interval"):
        checks.store.done(lease, next_in=next_in, interval=interval)
    assert checks.store.done(lease, next_in=0, interval=1)  # the refusal changed nothing


def test_postgres_skips_a_row_another_transaction_is_claiming(pg_dsn: str) -> None:
    from mm_assistants.state.postgres.checks import PostgresMailboxChecks
    from mm_assistants.state.postgres.connection import PostgresDatabase

    db = PostgresDatabase(pg_dsn)
    store = PostgresMailboxChecks(db)
    store.watch(["mbx_a", "mbx_b", "mbx_c"], interval=TICK)
    holder = db.connect(autocommit=False)  # another sweep, mid-claim: its transaction is open
    try:
        holder.execute(
            "SELECT mailbox_id FROM mm_mailbox_checks WHERE mailbox_id = 'mbx_b' FOR UPDATE"
        ).fetchall()
        result: list[list[CheckLease]] = []
        claimer = threading.Thread(
            target=lambda: result.append(store.claim_due("two", lease=60, limit=10))
        )
        claimer.start()
        claimer.join(timeout=10)
        assert not claimer.is_alive(), "claim_due waited for a locked row instead of skipping it"
        assert claimed(result[0]) == ["mbx_a", "mbx_c"]
        holder.rollback()  # the other sweep gave up: the row is anyone's again
        assert claimed(store.claim_due("three", lease=60, limit=10)) == ["mbx_b"]
    finally:
        holder.close()
        db.close()


def test_postgres_repr_names_no_password() -> None:
    pytest.importorskip("psycopg")
    from mm_assistants.state.postgres.checks import PostgresMailboxChecks

    store = PostgresMailboxChecks("postgresql://app:hunter2@127.0.0.1:1/fleet")  # opens lazily
    assert "hunter2" not in repr(store)
    assert "127.0.0.1:1/fleet" in repr(store)
