"""The `DecisionStore` contract, held by the memory store and the PostgreSQL store alike:
a recorded decision reads back, replaces an earlier one, rings every listener only once it
can be read, and a listener is told when it (re)connected."""

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
