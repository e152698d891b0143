"""The pending-approval store contract, on every backend (`conftest.BACKENDS`)."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from mm_assistants.state import PendingRecord, PendingStore
from mm_assistants.state.owners import host_identity
from tests.state.conftest import Backend

SECRET = "whsec_do_not_log_me"


def record(email_id: str, at: float = 1.0) -> PendingRecord:
    return PendingRecord(
        email_id, "mbx_1", f"call_{email_id}", "send_email", "th_1", "run_1", recorded_at=at
    )


def test_records_are_kept_once_in_order(backend: Backend) -> None:
    store = backend.pending()
    store.add(record("b", 2.0))
    store.add(record("a", 1.0))
    store.add(record("a", 3.0))  # the same email again: its first time is kept
    assert [r.email_id for r in store.all()] == ["a", "b"]
    assert store.get("a") == record("a", 1.0)
    assert store.get("missing") is None
    store.remove("a")
    store.remove("missing")
    assert [r.email_id for r in store.all()] == ["b"]


def test_a_claim_is_exclusive_until_released(backend: Backend) -> None:
    store = backend.pending()
    store.add(record("em_a"))
    until = time.time() + 60
    assert store.claim("em_a", "first", until=until) == record("em_a")
    assert store.claim("em_a", "second", until=until) is None
    store.release("em_a", "second")  # not its claim: nothing changes
    assert store.claim("em_a", "second", until=until) is None
    store.release("em_a", "first")
    assert store.claim("em_a", "second", until=until) == record("em_a")
    assert store.claim("em_gone", "x", until=until) is None


def test_another_connection_sees_the_claim(backend: Backend) -> None:
    first, second = backend.pending(), backend.pending()
    first.add(record("em_a"))
    assert second.get("em_a") == record("em_a")
    assert first.claim("em_a", "first", until=time.time() + 60) is not None
    assert second.claim("em_a", "second", until=time.time() + 60) is None


def test_recording_the_email_again_keeps_a_live_claim(backend: Backend) -> None:
    # a re-dispatch or a wait's last look records the email while a resolver delivers it:
    # the claim must hold, or a second resolver delivers the decision twice
    store = backend.pending()
    store.add(record("em_a"))
    until = time.time() + 60
    assert store.claim("em_a", "first", until=until) is not None
    store.add(record("em_a", at=5.0))
    assert store.claim("em_a", "second", until=until) is None
    assert store.get("em_a") == record("em_a")  # first recorded time kept


def test_an_expired_claim_can_be_taken_over(backend: Backend) -> None:
    store = backend.pending()
    store.add(record("em_a"))
    assert store.claim("em_a", "crashed", until=time.time() - 1) is not None
    assert store.claim("em_a", "next", until=time.time() + 60) is not None


def test_a_claim_left_by_a_dead_process_is_taken_over(backend: Backend) -> None:
    # the same rule in every backend (memory used to wait out the lease)
    store = backend.pending()
    store.add(record("em_a"))
    gone = f"t@{host_identity()}:99999999"  # a pid far above any real one
    assert store.claim("em_a", gone, until=time.time() + 600) is not None
    assert store.claim("em_a", "next", until=time.time() + 60) is not None


def test_a_removed_record_takes_its_claim_with_it(backend: Backend) -> None:
    store = backend.pending()
    store.add(record("em_a"))
    assert store.claim("em_a", "first", until=time.time() + 60) is not None
    store.remove("em_a")
    store.add(record("em_a"))  # held again later: a new record, free to claim
    assert store.claim("em_a", "second", until=time.time() + 60) is not None


def test_racing_connections_claim_each_record_once(backend: Backend) -> None:
    stores: list[PendingStore] = [backend.pending() for _ in range(3)]
    for n in range(30):
        stores[0].add(record(f"em_{n}", float(n)))
    won: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(stores))

    def claimer(store: PendingStore, name: str) -> None:
        start.wait(10)
        for n in range(30):
            if store.claim(f"em_{n}", name, until=time.time() + 60) is not None:
                with lock:
                    won.append(f"em_{n}")

    threads = [threading.Thread(target=claimer, args=(s, f"tok{i}")) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(won) == sorted(f"em_{n}" for n in range(30))


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param(f"not json {SECRET}", id="not-json"),
        pytest.param(json.dumps([SECRET]), id="not-an-object"),
        pytest.param(json.dumps({"email_id": "em_odd", "note": SECRET}), id="missing-fields"),
        pytest.param(
            json.dumps({**record("em_odd").__dict__, "mailbox_id": {"x": SECRET}}), id="bad-type"
        ),
        pytest.param(b"\x00 not text", id="not-text"),
    ],
)
def test_an_unreadable_row_is_quarantined_and_the_others_read(
    backend: Backend, odd: object, caplog: pytest.LogCaptureFixture
) -> None:
    if backend.corrupt is None:
        pytest.skip(f"{backend.name} keeps objects, not rows: nothing can be unreadable")
    store = backend.pending()
    store.add(record("em_a", 1.0))
    store.add(record("em_b", 3.0))
    backend.corrupt("pending", "em_odd", odd)
    with caplog.at_level(logging.DEBUG):
        assert [r.email_id for r in store.all()] == ["em_a", "em_b"]
    assert store.get("em_odd") is None
    # kept aside, not lost: an operator can look at it
    assert [row[0] for row in store.quarantined()] == ["em_odd"]  # type: ignore[attr-defined]
    assert "em_odd" in caplog.text
    assert SECRET not in caplog.text


def test_a_record_with_fields_from_a_newer_version_is_still_read(backend: Backend) -> None:
    if backend.corrupt is None:
        pytest.skip(f"{backend.name} keeps objects, not rows")
    store = backend.pending()
    backend.corrupt("pending", "em_new", json.dumps({**record("em_new").__dict__, "later": 1}))
    assert [r.email_id for r in store.all()] == ["em_new"]


def test_a_memory_store_shows_its_size_not_its_records() -> None:
    from mm_assistants.state import MemoryPendingStore

    store = MemoryPendingStore()
    store.add(record("em_a"))
    assert repr(store) == "MemoryPendingStore(records=1)"


def test_for_mailbox_reads_only_that_mailboxs_records_oldest_first(backend: Backend) -> None:
    store, other = backend.pending(), backend.pending()
    store.add(record("em_b", 2.0))
    store.add(PendingRecord("em_x", "mbx_2", "call_x", "send_email", recorded_at=1.5))
    store.add(record("em_a", 1.0))
    assert [r.email_id for r in other.for_mailbox("mbx_1")] == ["em_a", "em_b"]
    assert other.for_mailbox("mbx_2") == [
        PendingRecord("em_x", "mbx_2", "call_x", "send_email", recorded_at=1.5)
    ]
    assert other.for_mailbox("mbx_none") == []
    store.remove("em_a")
    assert [r.email_id for r in other.for_mailbox("mbx_1")] == ["em_b"]


def test_for_mailbox_never_hands_a_record_of_another_mailbox(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    # a hand-written row (its mailbox column, if any, says mbx_odd) whose record names
    # mbx_1, and one that is no record at all
    if backend.corrupt is None:
        pytest.skip(f"{backend.name} keeps objects, not rows")
    store = backend.pending()
    backend.corrupt("pending", "em_liar", json.dumps(record("em_liar").__dict__))
    backend.corrupt("pending", "em_odd", f"not json {SECRET}")
    for mailbox_id in ("mbx_odd", "mbx_1"):
        assert all(r.mailbox_id == mailbox_id for r in store.for_mailbox(mailbox_id))
    assert store.for_mailbox("mbx_odd") == []
    assert SECRET not in caplog.text
