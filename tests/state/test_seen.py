"""The replay memory contract (`SeenDeliveries`), on every backend; where its file lives."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from mm_assistants.state import (
    STATE_DIR_ENV,
    MemorySeenStore,
    SeenDeliveries,
    SQLiteSeenStore,
    default_seen_path,
    default_state_dir,
    open_seen_store,
)
from tests.state.conftest import Backend

NOW = 1_000_000.0


def test_first_claim_wins_until_the_key_expires(backend: Backend) -> None:
    store = backend.seen()
    assert isinstance(store, SeenDeliveries)
    assert store.claim(["a", "b"], now=NOW, keep_until=NOW + 10)
    assert not store.claim(["b"], now=NOW + 9, keep_until=NOW + 20)
    assert not store.claim(["c", "a"], now=NOW + 9, keep_until=NOW + 20)
    assert store.claim(["c"], now=NOW + 9, keep_until=NOW + 20)  # the refusal kept nothing
    assert store.claim(["a"], now=NOW + 10, keep_until=NOW + 30)  # expired: taken again


def test_released_keys_are_forgotten(backend: Backend) -> None:
    store = backend.seen()
    assert store.claim(["a", "b"], now=NOW, keep_until=NOW + 10)
    store.release(["a", "b"])
    assert store.claim(["a", "b"], now=NOW, keep_until=NOW + 10)


def test_racing_connections_accept_a_delivery_once(backend: Backend) -> None:
    # one store object per thread: separate connections, as separate processes would have
    stores = [backend.seen() for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    wins: list[bool] = []

    def claim(store: SeenDeliveries) -> None:
        barrier.wait(10)
        wins.append(store.claim(["event:evt_1", "body:x"], now=NOW, keep_until=NOW + 60))

    threads = [threading.Thread(target=claim, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(wins) == [False] * 7 + [True]


def test_the_memory_store_is_bounded_and_drops_the_soonest_to_expire() -> None:
    store = MemorySeenStore(max_entries=3)
    for offset, key in enumerate("abcd"):
        assert store.claim([key], now=NOW, keep_until=NOW + 100 - offset)
    assert len(store) == 3
    assert not store.claim(["a"], now=NOW, keep_until=NOW + 1)  # kept: it expires last
    assert store.claim(["d"], now=NOW, keep_until=NOW + 1)  # dropped: it expired first
    assert repr(store) == "MemorySeenStore(max_entries=3, size=3)"


def test_the_memory_store_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemorySeenStore(max_entries=0)


def test_the_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "mine"))
    assert default_seen_path() == tmp_path / "mine" / "webhook-deliveries.sqlite3"
    assert default_state_dir() == tmp_path / "mine"
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


def test_a_store_is_opened_from_a_path_a_store_or_nothing(tmp_path: Path) -> None:
    default = open_seen_store(None)
    assert isinstance(default, SQLiteSeenStore)
    assert default.path == str(default_seen_path())
    default.close()
    given = MemorySeenStore()
    assert open_seen_store(given) is given
    opened = open_seen_store(tmp_path / "x.db")
    assert isinstance(opened, SQLiteSeenStore)
    opened.close()
    with pytest.raises(TypeError, match="SeenDeliveries"):
        open_seen_store(42)  # type: ignore[arg-type]
