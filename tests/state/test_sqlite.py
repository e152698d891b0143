"""What the SQLite backend promises beyond the contracts: one opener (0600 files, WAL, one
busy timeout), one transaction helper for every atomic claim, recorded schema versions, and
files from earlier versions read in place."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.state import (
    InboundMessage,
    PendingRecord,
    SQLiteCheckpointStore,
    SQLitePendingStore,
    SQLiteRouteStore,
    SQLiteSeenStore,
)
from mm_assistants.state.sqlite import connection
from mm_assistants.state.sqlite.connection import BUSY_TIMEOUT, Database, open_database

STORES: list[Any] = [
    pytest.param(SQLitePendingStore, id="pending"),
    pytest.param(SQLiteRouteStore, id="routes"),
    pytest.param(SQLiteSeenStore, id="seen"),
    pytest.param(SQLiteCheckpointStore, id="checkpoints"),
]
SCHEMA = {
    SQLitePendingStore: "pending",
    SQLiteRouteStore: "routes",
    SQLiteSeenStore: "seen",
    SQLiteCheckpointStore: "checkpoints",
}


def use(store: Any) -> None:
    """One write of each store, so SQLite makes its -wal and -shm files."""
    now = time.time()
    if isinstance(store, SQLitePendingStore):
        store.add(PendingRecord("em_a", "mbx_1", "c1", "send_email"))
        store.claim("em_a", "t", until=now + 60)
    elif isinstance(store, SQLiteRouteStore):
        store.admit("k1", "thr_1", InboundMessage("em_1", "hi"))
    elif isinstance(store, SQLiteSeenStore):
        store.claim(["k1"], now=now, keep_until=now + 60)
    else:
        store.put("run_1", b"{}", format_version=1)
        store.claim("run_1", until=now + 60)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize("kind", STORES)
def test_every_store_file_and_new_folder_is_private(kind: Any, tmp_path: Path) -> None:
    path = tmp_path / "state" / "store.db"
    store = kind(path)
    use(store)
    files = [p for p in path.parent.iterdir() if p.name.startswith("store.db")]
    assert {p.name for p in files} >= {"store.db", "store.db-wal", "store.db-shm"}
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    store.close()


@pytest.mark.parametrize("kind", STORES)
def test_an_existing_world_readable_file_is_made_private(kind: Any, tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    kind(path).close()
    os.chmod(path, 0o644)
    kind(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("kind", STORES)
def test_every_store_opens_its_file_through_the_one_opener(
    kind: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []

    def spy(path: str | Path) -> sqlite3.Connection:
        opened.append(str(path))
        return open_database(path)

    monkeypatch.setattr(connection, "open_database", spy)
    kind(tmp_path / "store.db").close()
    assert opened == [str(tmp_path / "store.db")]


@pytest.mark.parametrize("kind", STORES)
def test_every_claim_is_one_immediate_transaction(
    kind: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = kind(tmp_path / "store.db")
    begun: list[str] = []
    plain = Database.transaction

    @contextmanager
    def counted(self: Database) -> Iterator[sqlite3.Connection]:
        with plain(self) as db:
            begun.append("BEGIN IMMEDIATE")
            assert db.in_transaction
            yield db

    monkeypatch.setattr(Database, "transaction", counted)
    use(store)
    assert begun  # the claim (and the write before it) went through the helper
    store.close()


def test_the_opener_sets_wal_one_busy_timeout_autocommit_and_any_thread(tmp_path: Path) -> None:
    db = open_database(tmp_path / "x.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == int(BUSY_TIMEOUT * 1000)
    assert db.isolation_level is None
    found: list[object] = []
    worker = threading.Thread(target=lambda: found.append(db.execute("SELECT 1").fetchone()))
    worker.start()
    worker.join(10)
    assert found == [(1,)]
    db.close()


def test_a_failed_transaction_is_rolled_back(tmp_path: Path) -> None:
    database = Database(tmp_path / "x.db")
    with database.connection() as db:
        db.execute("CREATE TABLE t (v INTEGER)")

    def insert_then_fail() -> None:
        with database.transaction() as db:
            db.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        insert_then_fail()
    with database.connection() as db:
        assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
        assert not db.in_transaction
    assert "x.db" in repr(database)
    database.close()


def test_in_memory_and_uri_databases_are_left_to_sqlite() -> None:
    db = open_database(":memory:")
    assert db.execute("SELECT 1").fetchone() == (1,)
    db.close()
    connection.make_private("file:whatever?mode=memory")  # no file to create or chmod


def test_one_file_records_each_stores_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    for kind in SCHEMA:
        kind(path).close()
    with sqlite3.connect(path) as db:
        rows = dict(db.execute("SELECT store, version FROM mm_schema_versions").fetchall())
    assert rows == {**dict.fromkeys(SCHEMA.values(), 1), "routes": 3, "checkpoints": 3}
    database = Database(path)
    assert database.schema_version("pending") == 1
    assert database.schema_version("nothing") is None
    # a newer release's file keeps its version (an older one does not downgrade it)
    assert database.migrate("pending", 1, lambda db, found: None) == 1
    with database.connection() as db:
        db.execute("UPDATE mm_schema_versions SET version = 7 WHERE store = 'pending'")
    assert database.migrate("pending", 1, lambda db, found: None) == 7
    database.close()


def test_a_pending_file_from_before_claims_and_versions_is_upgraded_in_place(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pending.db"
    old = PendingRecord("em_old", "mbx_1", "c1", "send_email", recorded_at=1.0)
    with sqlite3.connect(path) as db:  # the layout of earlier versions
        db.execute(
            "CREATE TABLE mm_pending_approvals ("
            " email_id TEXT PRIMARY KEY, recorded_at REAL NOT NULL, record TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO mm_pending_approvals VALUES (?, ?, ?)",
            ("em_old", 1.0, json.dumps(old.__dict__)),
        )
    store = SQLitePendingStore(path)
    assert store.claim("em_old", "t", until=time.time() + 60) == old
    assert store.claim("em_old", "u", until=time.time() + 60) is None
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM mm_schema_versions").fetchall() == [(1,)]


def test_pending_records_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "pending.db"
    record = PendingRecord("x", "mbx_1", "c1", "send_email", "th_1", "run_1", recorded_at=5.0)
    first = SQLitePendingStore(path)
    first.add(record)
    first.close()
    again = SQLitePendingStore(path)
    assert again.all() == [record]
    assert "pending.db" in repr(again)
    again.close()


def test_checkpoints_and_their_fence_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    first = SQLiteCheckpointStore(path)
    first.put("run_1", b"{}", format_version=3)
    claim = first.claim("run_1", until=time.time() + 60)
    assert claim is not None
    first.close()
    again = SQLiteCheckpointStore(path)
    assert again.claim("run_1", until=time.time() + 60) is None  # the claim holds
    assert again.put("run_1", b"[]", format_version=3, token=claim.token)
    assert again.release("run_1", claim.token)
    later = again.claim("run_1", until=time.time() + 60)
    assert later is not None
    assert later.token > claim.token
    assert "runs.db" in repr(again)
    again.close()


def test_seen_deliveries_outlive_their_store(tmp_path: Path) -> None:
    path = tmp_path / "seen.db"
    now = 1_000_000.0
    first = SQLiteSeenStore(path)
    assert first.claim(["evt_1"], now=now, keep_until=now + 60)
    first.close()
    again = SQLiteSeenStore(path)
    assert not again.claim(["evt_1"], now=now, keep_until=now + 60)
    assert "seen.db" in repr(again)
    again.close()


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        pytest.param((b"{}", "one", 1.0, 0, None), "format version", id="text-version"),
        pytest.param((b"{}", 1, "later", 0, None), "wrong type", id="text-time"),
        pytest.param((b"{}", 1, 1.0, 0, "soon"), "wrong type", id="text-until"),
    ],
)
def test_a_checkpoint_row_with_odd_fields_is_quarantined(
    tmp_path: Path, values: tuple[object, ...], problem: str
) -> None:
    store = SQLiteCheckpointStore(tmp_path / "runs.db")
    with sqlite3.connect(tmp_path / "runs.db") as db:
        db.execute(
            "INSERT INTO mm_checkpoints (checkpoint_id, record, format_version, updated_at,"
            " fence, claimed_until) VALUES (?, ?, ?, ?, ?, ?)",
            ("run_odd", *values),
        )
    assert store.get("run_odd") is None
    assert [(row[0], problem in row[1]) for row in store.quarantined()] == [("run_odd", True)]
    store.close()


def test_a_file_that_cannot_be_made_private_is_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)

    def refuse(*args: object) -> None:
        raise PermissionError("not yours")

    monkeypatch.setattr(os, "chmod", refuse)
    SQLiteSeenStore(path).close()
    assert "readable by others" in caplog.text


def test_a_file_sqlite_cannot_open_leaves_no_connection(tmp_path: Path) -> None:
    path = tmp_path / "not-a-database.db"
    path.write_bytes(b"this is not a SQLite file, but long enough to have a header" * 4)
    with pytest.raises(sqlite3.DatabaseError):
        open_database(path)


def test_a_file_others_may_write_and_that_cannot_be_made_private_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "swapped.db"
    path.touch()
    os.chmod(path, 0o666)

    def refuse(*args: object) -> None:
        raise PermissionError("not yours")

    monkeypatch.setattr(os, "chmod", refuse)
    with pytest.raises(PermissionError, match="written by other users"):
        SQLiteSeenStore(path)


def test_every_missing_folder_is_created_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        SQLiteSeenStore(tmp_path / "a" / "b" / "c" / "seen.db").close()
    finally:
        os.umask(old)
    for folder in (tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_a_sqlite_uri_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="not a SQLite URI"):
        open_database("file:pending.db")
    assert not (tmp_path / "pending.db").exists()


def test_a_version_1_route_file_opens_and_its_claims_keep_working(tmp_path: Path) -> None:
    path = tmp_path / "routes.db"
    with sqlite3.connect(path) as db:  # the layout of version 1: claims without tokens
        db.execute(
            "CREATE TABLE mm_schema_versions (store TEXT PRIMARY KEY,"
            " version INTEGER NOT NULL, updated_at REAL NOT NULL)"
        )
        db.execute("INSERT INTO mm_schema_versions VALUES ('routes', 1, 1.0)")
        db.execute("CREATE TABLE mm_route_seen (key TEXT PRIMARY KEY, seen_at REAL NOT NULL)")
        db.execute(
            "CREATE TABLE mm_route_claims (mm_thread TEXT PRIMARY KEY, claimed_at REAL NOT NULL)"
        )
        db.execute(
            "CREATE TABLE mm_route_queue (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " mm_thread TEXT NOT NULL, position INTEGER NOT NULL, email_id TEXT NOT NULL,"
            " text TEXT NOT NULL, received_at REAL NOT NULL)"
        )
        db.execute("INSERT INTO mm_route_seen VALUES ('k1', 1.0)")
        db.execute("INSERT INTO mm_route_claims VALUES ('thr_old', ?)", (time.time(),))
    store = SQLiteRouteStore(path)
    assert store.admit("k1", "thr_old", InboundMessage("em_1", "hi")) == "duplicate"
    old = store.token("thr_old")
    assert old == 0  # claimed before tokens existed
    assert store.admit("k2", "thr_new", InboundMessage("em_2", "hi")) == "claimed"
    new = store.token("thr_new")
    assert new is not None
    assert new > old
    assert store.park("thr_old", old, "cp_1")
    assert store.parked("thr_old") == "cp_1"
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute(
            "SELECT version FROM mm_schema_versions WHERE store = 'routes'"
        ).fetchone() == (3,)
