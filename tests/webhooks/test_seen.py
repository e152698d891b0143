"""The replay memory's backends: one contract, memory and SQLite."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mm_assistants.webhooks import (
    MemorySeenStore,
    ReplayGuard,
    SeenDeliveries,
    SQLiteSeenStore,
    WebhookReceiver,
)
from mm_assistants.webhooks.seen import STATE_DIR_ENV, default_seen_path, open_seen_store

NOW = 1_000_000.0
Factory = Callable[[Path], SeenDeliveries]
BACKENDS = [
    pytest.param(lambda folder: MemorySeenStore(), id="memory"),
    pytest.param(lambda folder: SQLiteSeenStore(folder / "seen.db"), id="sqlite"),
]


@pytest.mark.parametrize("make", BACKENDS)
def test_first_claim_wins_until_the_key_expires(make: Factory, tmp_path: Path) -> None:
    store = make(tmp_path)
    assert isinstance(store, SeenDeliveries)
    assert store.claim(["a", "b"], now=NOW, keep_until=NOW + 10)
    assert not store.claim(["b"], now=NOW + 9, keep_until=NOW + 20)
    assert not store.claim(["c", "a"], now=NOW + 9, keep_until=NOW + 20)
    assert store.claim(["c"], now=NOW + 9, keep_until=NOW + 20)  # the refusal kept nothing
    assert store.claim(["a"], now=NOW + 10, keep_until=NOW + 30)  # expired: taken again


@pytest.mark.parametrize("make", BACKENDS)
def test_released_keys_are_forgotten(make: Factory, tmp_path: Path) -> None:
    store = make(tmp_path)
    assert store.claim(["a", "b"], now=NOW, keep_until=NOW + 10)
    store.release(["a", "b"])
    assert store.claim(["a", "b"], now=NOW, keep_until=NOW + 10)


def test_the_sqlite_file_is_private_and_outlives_its_process(tmp_path: Path) -> None:
    path = tmp_path / "state" / "seen.db"
    SQLiteSeenStore(path).claim(["evt_1"], now=NOW, keep_until=NOW + 60)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    code = (
        "import sys; from mm_assistants.webhooks import SQLiteSeenStore;"
        f" sys.exit(0 if SQLiteSeenStore({str(path)!r}).claim(['evt_1'], now={NOW}, "
        f"keep_until={NOW + 60}) else 3)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 3


def test_two_connections_to_one_file_accept_a_delivery_once(tmp_path: Path) -> None:
    # one store object per thread: separate connections, as separate processes would have
    stores = [SQLiteSeenStore(tmp_path / "seen.db") for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    wins: list[bool] = []

    def claim(store: SQLiteSeenStore) -> None:
        barrier.wait()
        wins.append(store.claim(["event:evt_1", "body:x"], now=NOW, keep_until=NOW + 60))

    threads = [threading.Thread(target=claim, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]
    for store in stores:
        store.close()


def test_the_memory_store_is_bounded_and_drops_the_soonest_to_expire() -> None:
    store = MemorySeenStore(max_entries=3)
    for offset, key in enumerate("abcd"):
        assert store.claim([key], now=NOW, keep_until=NOW + 100 - offset)
    assert len(store) == 3
    assert not store.claim(["a"], now=NOW, keep_until=NOW + 1)  # kept: it expires last
    assert store.claim(["d"], now=NOW, keep_until=NOW + 1)  # dropped: it expired first
    assert repr(store) == "MemorySeenStore(max_entries=3, size=3)"
    assert ReplayGuard is MemorySeenStore


def test_the_memory_store_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemorySeenStore(max_entries=0)


def test_the_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "mine"))
    assert default_seen_path() == tmp_path / "mine" / "webhook-deliveries.sqlite3"
    monkeypatch.delenv(STATE_DIR_ENV)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    if sys.platform != "win32":
        assert default_seen_path() == tmp_path / "xdg" / "mm-assistants" / (
            "webhook-deliveries.sqlite3"
        )
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if sys.platform != "win32":
        expected = tmp_path / "home" / ".local" / "state" / "mm-assistants"
        assert default_seen_path().parent == expected


def test_a_receiver_opens_the_default_file_or_the_store_it_is_given(tmp_path: Path) -> None:
    receiver = WebhookReceiver("whsec_x")
    assert isinstance(receiver.replay_guard, SQLiteSeenStore)
    assert receiver.replay_guard.path == str(default_seen_path())
    assert Path(os.environ[STATE_DIR_ENV]).is_dir()
    given = MemorySeenStore()
    assert WebhookReceiver("whsec_x", replay_guard=given).replay_guard is given
    assert isinstance(open_seen_store(tmp_path / "x.db"), SQLiteSeenStore)
    with pytest.raises(TypeError, match="SeenDeliveries"):
        WebhookReceiver("whsec_x", replay_guard=42)  # type: ignore[arg-type]
