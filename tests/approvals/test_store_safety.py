"""The pending store under attack or accident: odd rows, file modes, racing resolvers."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.approvals import (
    ApprovalOutcome,
    MemoryPendingStore,
    PendingRecord,
    SQLitePendingStore,
    resolve_pending,
)

SECRET = "whsec_do_not_log_me"


def record(email_id: str, at: float = 1.0) -> PendingRecord:
    return PendingRecord(
        email_id, "mbx_1", f"call_{email_id}", "send_email", "th_1", recorded_at=at
    )


def rejected(email_id: str, mailbox_id: str) -> dict[str, Any]:
    return {"status": "rejected", "rejection_reason": "no"}


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param(f"not json {SECRET}", id="not-json"),
        pytest.param(json.dumps([SECRET]), id="not-an-object"),
        pytest.param(json.dumps({"email_id": "em_odd", "note": SECRET}), id="missing-fields"),
        pytest.param(
            json.dumps({**record("em_odd").__dict__, "mailbox_id": {"x": SECRET}}), id="bad-type"
        ),
    ],
)
def test_an_odd_row_is_kept_aside_and_the_valid_ones_are_delivered(
    tmp_path: Path, odd: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "pending.db"
    store = SQLitePendingStore(path)
    store.add(record("em_a", 1.0))
    store.add(record("em_b", 3.0))
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO mm_pending_approvals (email_id, recorded_at, record) VALUES (?, ?, ?)",
            ("em_odd", 2.0, odd),
        )
    delivered: list[str] = []
    with caplog.at_level(logging.DEBUG):
        outcomes = resolve_pending(store, rejected, lambda r, o: delivered.append(r.email_id))
    assert delivered == ["em_a", "em_b"]
    assert [o.email_id for o in outcomes] == ["em_a", "em_b"]
    assert store.all() == []
    assert store.get("em_odd") is None
    # kept aside, not lost: an operator can look at it
    assert [row[0] for row in store.quarantined()] == ["em_odd"]
    assert "em_odd" in caplog.text
    assert SECRET not in caplog.text
    store.close()


def test_a_row_with_fields_from_a_newer_version_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "pending.db"
    store = SQLitePendingStore(path)
    newer = {**record("em_new").__dict__, "added_later": 1}
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO mm_pending_approvals (email_id, recorded_at, record) VALUES (?, ?, ?)",
            ("em_new", 1.0, json.dumps(newer)),
        )
    assert [r.email_id for r in store.all()] == ["em_new"]
    store.close()


def test_the_sqlite_files_are_private_to_their_owner(tmp_path: Path) -> None:
    path = tmp_path / "pending.db"
    old = os.umask(0o022)
    try:
        store = SQLitePendingStore(path)
        store.add(record("em_a"))
        files = [p for p in tmp_path.iterdir() if p.name.startswith("pending.db")]
        assert {p.name for p in files} >= {"pending.db"}
        for file in files:
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
        store.close()
    finally:
        os.umask(old)


def test_an_existing_world_readable_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "pending.db"
    SQLitePendingStore(path).close()
    os.chmod(path, 0o644)
    SQLitePendingStore(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


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


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_claim_is_exclusive_until_released(kind: str, tmp_path: Path) -> None:
    store: Any = MemoryPendingStore() if kind == "memory" else SQLitePendingStore(tmp_path / "p.db")
    store.add(record("em_a"))
    until = time.time() + 60
    assert store.claim("em_a", "first", until=until) == record("em_a")
    assert store.claim("em_a", "second", until=until) is None
    store.release("em_a", "second")  # not its claim: nothing changes
    assert store.claim("em_a", "second", until=until) is None
    store.release("em_a", "first")
    assert store.claim("em_a", "second", until=until) == record("em_a")
    assert store.claim("em_gone", "x", until=until) is None


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_recording_the_email_again_keeps_a_live_claim(kind: str, tmp_path: Path) -> None:
    # a re-dispatch or a wait's last look records the email while a resolver delivers it:
    # the claim must hold, or a second resolver delivers the decision twice
    store: Any = MemoryPendingStore() if kind == "memory" else SQLitePendingStore(tmp_path / "p.db")
    store.add(record("em_a"))
    until = time.time() + 60
    assert store.claim("em_a", "first", until=until) is not None
    store.add(record("em_a", at=5.0))
    assert store.claim("em_a", "second", until=until) is None
    assert store.get("em_a") == record("em_a")  # first recorded time kept


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_an_expired_claim_can_be_taken_over(kind: str, tmp_path: Path) -> None:
    store: Any = MemoryPendingStore() if kind == "memory" else SQLitePendingStore(tmp_path / "p.db")
    store.add(record("em_a"))
    assert store.claim("em_a", "crashed", until=time.time() - 1) is not None
    assert store.claim("em_a", "next", until=time.time() + 60) is not None


def test_a_failed_delivery_releases_the_claim(tmp_path: Path) -> None:
    store = SQLitePendingStore(tmp_path / "p.db")
    store.add(record("em_a"))

    def busy(r: PendingRecord, o: ApprovalOutcome) -> None:
        raise RuntimeError("thread busy")

    with pytest.raises(RuntimeError):
        resolve_pending(store, rejected, busy)
    delivered: list[str] = []
    resolve_pending(store, rejected, lambda r, o: delivered.append(r.email_id))
    assert delivered == ["em_a"]
    store.close()


def test_a_file_from_before_claims_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "pending.db"
    with sqlite3.connect(path) as db:  # the layout of earlier versions
        db.execute(
            "CREATE TABLE mm_pending_approvals ("
            " email_id TEXT PRIMARY KEY, recorded_at REAL NOT NULL, record TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO mm_pending_approvals VALUES (?, ?, ?)",
            ("em_old", 1.0, json.dumps(record("em_old").__dict__)),
        )
    store = SQLitePendingStore(path)
    assert store.claim("em_old", "t", until=time.time() + 60) == record("em_old")
    assert store.claim("em_old", "u", until=time.time() + 60) is None
    store.close()


def test_a_claim_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    import socket

    store = SQLitePendingStore(tmp_path / "p.db")
    store.add(record("em_a"))
    gone = f"t@{socket.gethostname()}:99999999"  # a pid far above any real one
    assert store.claim("em_a", gone, until=time.time() + 600) is not None
    assert store.claim("em_a", "next", until=time.time() + 60) is not None
    store.close()
