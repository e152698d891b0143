"""Racing resolvers deliver each late decision once, and a failed delivery is tried again.
(The store's own guarantees, unreadable rows, file modes and claims, are the contract in
``tests/state``.)"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.approvals import ApprovalOutcome, PendingRecord, resolve_pending
from mm_assistants.state import MemoryPendingStore, SQLitePendingStore


def record(email_id: str, at: float = 1.0) -> PendingRecord:
    return PendingRecord(
        email_id, "mbx_1", f"call_{email_id}", "send_email", "th_1", recorded_at=at
    )


def rejected(email_id: str, mailbox_id: str) -> dict[str, Any]:
    return {"status": "rejected", "rejection_reason": "no"}


def race(stores: list[Any], emails: int) -> list[str]:
    delivered: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(stores))

    def deliver(r: PendingRecord, o: ApprovalOutcome) -> None:
        time.sleep(0.002)  # a slow post widens the window two resolvers could share
        with lock:
            delivered.append(r.email_id)

    def resolver(store: Any) -> None:
        start.wait()
        resolve_pending(store, rejected, deliver)

    threads = [threading.Thread(target=resolver, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return delivered


def test_two_resolvers_on_one_sqlite_file_deliver_each_record_once(tmp_path: Path) -> None:
    path = tmp_path / "pending.db"
    stores = [SQLitePendingStore(path) for _ in range(3)]
    for n in range(40):
        stores[0].add(record(f"em_{n}", float(n)))
    delivered = race(stores, 40)
    assert sorted(delivered) == sorted(f"em_{n}" for n in range(40))
    assert stores[1].all() == []
    for store in stores:
        store.close()


def test_two_resolvers_on_one_memory_store_deliver_each_record_once() -> None:
    store = MemoryPendingStore()
    for n in range(40):
        store.add(record(f"em_{n}", float(n)))
    delivered = race([store, store, store], 40)
    assert sorted(delivered) == sorted(f"em_{n}" for n in range(40))


def test_a_failed_delivery_releases_the_claim(tmp_path: Path) -> None:
    store = SQLitePendingStore(tmp_path / "p.db")
    store.add(record("em_a"))

    def busy(r: PendingRecord, o: ApprovalOutcome) -> None:
        raise RuntimeError("thread busy")

    with pytest.raises(RuntimeError, match="busy"):
        resolve_pending(store, rejected, busy)
    delivered: list[str] = []
    resolve_pending(store, rejected, lambda r, o: delivered.append(r.email_id))
    assert delivered == ["em_a"]
    store.close()
