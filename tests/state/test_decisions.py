"""The `DecisionStore` contract, held by the memory store and the PostgreSQL store alike:
a recorded decision reads back, replaces an earlier one of no higher rank (and only such
a one), rings every listener only once it can be read, and a listener is told when it
(re)connected."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm_assistants.state.decisions import (
    MAX_EMAIL_ID,
    DecisionStore,
    MemoryDecisionStore,
    plausible_email_id,
)

BOUND = 10.0  # seconds any ring may take on a loaded test machine

REJECTED = {"id": "em_1", "status": "rejected", "reason": "not to this customer"}
APPROVED = {"id": "em_1", "status": "approved_and_sent", "approved_at": "2026-01-02T03:04:05Z"}


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[DecisionStore]:
    if request.param == "memory":
        yield MemoryDecisionStore()
        return
    from mm_assistants.state.postgres.decisions import PostgresDecisionStore

    postgres = PostgresDecisionStore(request.getfixturevalue("pg_dsn"))
    yield postgres
    postgres.database.close()


class Bell:
    """A listener's callbacks, recorded, with a bounded wait for the next ring."""

    def __init__(self, store: DecisionStore | None = None) -> None:
        self.store = store
        self.rung: list[str] = []
        self.seen_then: list[dict[str, Any]] = []
        self.connects = 0
        self._event = threading.Event()
        self._connected = threading.Event()

    def ring(self, email_id: str) -> None:
        if self.store is not None:
            # what a listener finds when the bell rings: the decision must already be there
            self.seen_then.append(dict(self.store.get_many([email_id])))
        self.rung.append(email_id)
        self._event.set()

    def reconnected(self) -> None:
        self.connects += 1
        self._connected.set()

    def wait_ring(self, count: int) -> list[str]:
        while len(self.rung) < count and self._event.wait(BOUND):
            self._event.clear()
        return self.rung

    def wait_connected(self) -> None:
        assert self._connected.wait(BOUND), "the listener never said it was connected"


def test_a_recorded_decision_reads_back_and_a_missing_one_is_absent(store: DecisionStore) -> None:
    store.record("em_1", REJECTED)
    assert store.get_many(["em_1", "em_2"]) == {"em_1": REJECTED}
    assert store.get_many([]) == {}


def test_a_later_decision_replaces_the_earlier_one(store: DecisionStore) -> None:
    store.record("em_1", REJECTED)
    store.record("em_1", APPROVED)
    assert store.get_many(["em_1"]) == {"em_1": APPROVED}


# ranks as the hub gives them (mm_assistants.approvals.watch.decision_rank); a state test
# must not depend on approvals, so they are spelled out here
SCHEDULED_RANK, APPROVED_RANK, FINAL_RANK = 1, 3, 4
SEND_FAILED = {"id": "em_1", "status": "send_failed", "error": "mailbox full"}
SCHEDULED = {"id": "em_1", "status": "scheduled", "send_at": "2026-01-03T09:00:00Z"}


def test_a_late_approval_never_replaces_the_send_failed_read_since(store: DecisionStore) -> None:
    bell = Bell()
    listening = store.listen(bell.ring, bell.reconnected)
    try:
        bell.wait_connected()
        assert store.record("em_1", SEND_FAILED, rank=FINAL_RANK) is True
        assert bell.wait_ring(1) == ["em_1"]
        # a retried oversight.approved webhook, delivered after the watcher's send_failed
        assert store.record("em_1", APPROVED, rank=APPROVED_RANK) is False
        assert store.get_many(["em_1"]) == {"em_1": SEND_FAILED}
        store.record("em_2", REJECTED)  # a later bell: the refused record rang none before it
        assert bell.wait_ring(2) == ["em_1", "em_2"]
    finally:
        listening.close()


def test_a_scheduled_decision_is_upgraded_by_the_approval(store: DecisionStore) -> None:
    assert store.record("em_1", SCHEDULED, rank=SCHEDULED_RANK) is True
    assert store.record("em_1", APPROVED, rank=APPROVED_RANK) is True
    assert store.get_many(["em_1"]) == {"em_1": APPROVED}
    # and the approval is not taken back by a late copy of the scheduled record
    assert store.record("em_1", SCHEDULED, rank=SCHEDULED_RANK) is False
    assert store.get_many(["em_1"]) == {"em_1": APPROVED}


def test_equal_ranks_replace_the_latest_evidence_wins(store: DecisionStore) -> None:
    assert store.record("em_1", REJECTED, rank=FINAL_RANK) is True
    assert store.record("em_1", SEND_FAILED, rank=FINAL_RANK) is True
    assert store.get_many(["em_1"]) == {"em_1": SEND_FAILED}


@pytest.mark.parametrize("rank", [-1, 2**31, True, 1.0, "3", None])
def test_a_rank_that_is_no_small_int_is_refused(store: DecisionStore, rank: Any) -> None:
    with pytest.raises(ValueError, match="rank"):
        store.record("em_1", REJECTED, rank=rank)
    assert store.get_many(["em_1"]) == {}


def test_the_highest_rank_is_kept(store: DecisionStore) -> None:
    assert store.record("em_1", REJECTED, rank=2**31 - 1) is True
    assert store.record("em_1", APPROVED, rank=2**31 - 2) is False


def test_concurrent_records_keep_the_most_final(store: DecisionStore) -> None:
    # processes recording at once (webhook receivers, watchers): whatever the interleaving,
    # the most final decision is what stays
    ranked = [(SCHEDULED, SCHEDULED_RANK), (APPROVED, APPROVED_RANK), (SEND_FAILED, FINAL_RANK)]
    errors: list[BaseException] = []

    def write(data: dict[str, Any], rank: int) -> None:
        try:
            for _ in range(5):
                store.record("em_1", data, rank=rank)
        except BaseException as error:  # noqa: BLE001 -- handed to the test thread
            errors.append(error)

    threads = [threading.Thread(target=write, args=pair) for pair in ranked * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(BOUND)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert store.get_many(["em_1"]) == {"em_1": SEND_FAILED}


def test_what_is_read_back_is_a_copy_not_the_callers_object(store: DecisionStore) -> None:
    data = dict(REJECTED)
    store.record("em_1", data)
    data["status"] = "approved"
    assert store.get_many(["em_1"])["em_1"]["status"] == "rejected"


def test_the_bell_rings_with_the_id_after_the_decision_is_readable(store: DecisionStore) -> None:
    bell = Bell(store)
    listening = store.listen(bell.ring, bell.reconnected)
    try:
        bell.wait_connected()
        store.record("em_1", REJECTED)
        assert bell.wait_ring(1) == ["em_1"]
        assert bell.seen_then == [{"em_1": REJECTED}]
    finally:
        listening.close()


def test_every_listener_hears_every_decision(store: DecisionStore) -> None:
    first, second = Bell(), Bell()
    listenings = [store.listen(b.ring, b.reconnected) for b in (first, second)]
    try:
        first.wait_connected()
        second.wait_connected()
        store.record("em_1", REJECTED)
        store.record("em_2", APPROVED)
        assert sorted(first.wait_ring(2)) == sorted(second.wait_ring(2)) == ["em_1", "em_2"]
    finally:
        for listening in listenings:
            listening.close()


def test_a_closed_listener_hears_nothing_more(store: DecisionStore) -> None:
    closed, open_ = Bell(), Bell()
    listening = store.listen(closed.ring, closed.reconnected)
    keep = store.listen(open_.ring, open_.reconnected)
    try:
        closed.wait_connected()
        open_.wait_connected()
        listening.close()
        listening.close()  # idempotent
        store.record("em_1", REJECTED)
        assert open_.wait_ring(1) == ["em_1"]
        assert closed.rung == []
    finally:
        keep.close()


def test_a_listener_is_told_it_connected_once_at_the_start(store: DecisionStore) -> None:
    bell = Bell()
    listening = store.listen(bell.ring, bell.reconnected)
    try:
        bell.wait_connected()
        assert bell.connects == 1
    finally:
        listening.close()


@pytest.mark.parametrize(
    "email_id",
    [
        pytest.param("", id="empty"),
        pytest.param("em 1", id="space"),
        pytest.param("em\n1", id="newline"),
        pytest.param("em\x001", id="nul"),
        pytest.param("x" * (MAX_EMAIL_ID + 1), id="too-long"),
        pytest.param(42, id="not-a-string"),
    ],
)
def test_an_implausible_email_id_is_refused_without_being_repeated(
    store: DecisionStore, email_id: Any
) -> None:
    with pytest.raises(ValueError, match="printable ASCII") as raised:
        store.record(email_id, REJECTED)
    if isinstance(email_id, str) and email_id:
        assert email_id not in str(raised.value)


def test_a_decision_that_is_not_json_is_refused(store: DecisionStore) -> None:
    with pytest.raises(TypeError):
        store.record("em_1", {"status": "rejected", "at": object()})
    assert store.get_many(["em_1"]) == {}


@given(st.text(max_size=300))
def test_a_plausible_email_id_is_short_printable_ascii_without_whitespace(value: str) -> None:
    expected = 0 < len(value) <= MAX_EMAIL_ID and all(
        char.isascii() and char.isprintable() and not char.isspace() for char in value
    )
    assert plausible_email_id(value) is expected


def test_real_email_ids_are_plausible() -> None:
    for email_id in ("em_01HZX3Y", "0b7f6c1e-2d3a-4f5b-8c9d-0e1f2a3b4c5d", "<a.b@mail.example>"):
        assert plausible_email_id(email_id)
