"""Delivering late decisions once: `resolve_pending` over a pending store, in memory and in
SQLite. (What a store itself keeps and claims is the contract in ``tests/state``.)"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.approvals import ApprovalOutcome, PendingRecord, resolve_pending
from mm_assistants.state import MemoryPendingStore, SQLitePendingStore
from mm_assistants.state.owners import host_identity


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        return MemoryPendingStore()
    return SQLitePendingStore(tmp_path / "pending.db")


def record(email_id: str, at: float) -> PendingRecord:
    return PendingRecord(
        email_id, "mbx_1", f"call_{email_id}", "send_email", "th_1", "run_1", recorded_at=at
    )


def test_resolve_delivers_decided_ones_and_keeps_the_rest(store: Any) -> None:
    store.add(record("held", 1.0))
    store.add(record("done", 2.0))
    emails = {
        "held": {"status": "pending_send_approval"},
        "done": {"status": "rejected", "rejection_reason": "r"},
    }
    delivered: list[tuple[PendingRecord, ApprovalOutcome]] = []
    outcomes = resolve_pending(store, lambda e, m: emails[e], lambda r, o: delivered.append((r, o)))
    assert [o.email_id for o in outcomes] == ["done"]
    assert delivered[0][0].thread_id == "th_1"
    assert delivered[0][1].reason == "r"
    assert [r.email_id for r in store.all()] == ["held"]


def test_a_failed_delivery_keeps_the_record(store: Any) -> None:
    store.add(record("done", 1.0))

    def deliver(r: PendingRecord, o: ApprovalOutcome) -> None:
        raise RuntimeError("thread busy")

    with pytest.raises(RuntimeError):
        resolve_pending(store, lambda e, m: {"status": "approved_and_sent"}, deliver)
    assert [r.email_id for r in store.all()] == ["done"]


def test_a_record_a_live_wait_owns_is_left_to_that_wait() -> None:
    host = host_identity()
    live = PendingRecord(
        "em_live",
        "mbx_1",
        "c1",
        "send_email",
        waiting_until=time.time() + 60,
        owner=f"{host}:{os.getpid()}",
    )
    # A pid far above any real one: its owner is gone, so the record is anyone's.
    dead = PendingRecord(
        "em_dead",
        "mbx_1",
        "c2",
        "send_email",
        waiting_until=time.time() + 60,
        owner=f"{host}:99999999",
    )
    ended = PendingRecord("em_ended", "mbx_1", "c3", "send_email", waiting_until=time.time() - 1)
    store = MemoryPendingStore()
    for item in (live, dead, ended):
        store.add(item)
    delivered: list[str] = []
    resolve_pending(
        store,
        lambda email_id, mailbox: {"status": "rejected"},
        lambda r, o: delivered.append(r.email_id),
    )
    assert sorted(delivered) == ["em_dead", "em_ended"]
    assert [r.email_id for r in store.all()] == ["em_live"]


def test_the_resolvers_annotations_resolve_at_run_time() -> None:
    # tools that read annotations (documentation, dependency injection) must not fail
    import typing

    from mm_assistants.approvals import store

    for function in (store.resolve_pending, store.resolve_decision, store.claim):
        assert "store" in typing.get_type_hints(function)
