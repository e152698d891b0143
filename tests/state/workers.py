"""What the processes spawned by ``test_processes`` run (importable, so ``spawn`` finds it)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from mm_assistants.state import (
    InboundMessage,
    SQLiteCheckpointStore,
    SQLitePendingStore,
    SQLiteRouteStore,
    SQLiteSeenStore,
)
from mm_assistants.state.owners import new_token

KINDS = ("pending", "routes", "seen", "checkpoints")
NOW = 1_000_000.0


def claim_all(path: str, keys: int, barrier: Any, results: Any) -> None:
    """For each store kind: wait for the other process, then claim ``keys`` keys; report
    which this process won."""
    stores: dict[str, Any] = {
        "pending": SQLitePendingStore(path),
        "routes": SQLiteRouteStore(path),
        "seen": SQLiteSeenStore(path),
        "checkpoints": SQLiteCheckpointStore(path),
    }
    won: dict[str, list[int]] = {}
    for kind in KINDS:
        barrier.wait(120)
        store = stores[kind]
        won[kind] = [n for n in range(keys) if _claim(kind, store, n)]
    results.put((os.getpid(), won))
    for store in stores.values():
        store.close()


def _claim(kind: str, store: Any, n: int) -> bool:
    until = time.time() + 600
    if kind == "pending":
        return store.claim(f"em_{n}", new_token(), until=until) is not None
    if kind == "routes":
        return bool(store.admit(f"k{n}", f"thr_{n}", InboundMessage(f"em_{n}", "hi")) == "claimed")
    if kind == "seen":
        return bool(store.claim([f"k{n}"], now=NOW, keep_until=NOW + 60))
    return store.claim(f"run_{n}", until=until) is not None


def die_holding(path: str, lease: float, report: str) -> None:
    """Claim one thing of each kind, say when, and die without releasing anything."""
    now = time.time()
    SQLitePendingStore(path).claim("em_dead", new_token(), until=now + 600)
    routes = SQLiteRouteStore(path, lease=lease)
    routes.admit("k1", "thr_dead", InboundMessage("em_1", "first"))
    routes.admit("k2", "thr_dead", InboundMessage("em_2", "second"))  # queued behind it
    SQLiteCheckpointStore(path).claim("run_dead", until=now + lease)
    with open(report, "w", encoding="utf-8") as file:
        json.dump({"claimed_at": now}, file)
    os._exit(0)  # no release, no close: as a killed worker leaves things
