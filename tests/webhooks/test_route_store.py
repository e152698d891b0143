"""Route stores: seen deliveries, claims, queues and links, in memory and in SQLite."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mm_assistants.inbound import InboundMessage, MemoryRouteStore, RouteStore, SQLiteRouteStore

MakeStore = Callable[..., RouteStore]


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    def make(**options: float) -> RouteStore:
        if request.param == "memory":
            return MemoryRouteStore(**options)
        return SQLiteRouteStore(tmp_path / "routes.db", **options)

    return make


def message(email_id: str) -> InboundMessage:
    return InboundMessage(email_id=email_id, text=f"about {email_id}")


def test_the_first_message_claims_the_thread_and_a_repeat_is_a_duplicate(
    make_store: MakeStore,
) -> None:
    store = make_store()
    assert store.admit("email:em_1", "thr_1", message("em_1")) == "claimed"
    assert store.admit("email:em_1", "thr_1", message("em_1")) == "duplicate"
    assert store.seen("email:em_1")


def test_messages_queue_behind_a_claim_and_come_back_in_order(make_store: MakeStore) -> None:
    store = make_store()
    store.admit("k1", "thr_1", message("em_1"))
    assert store.admit("k2", "thr_1", message("em_2")) == "queued"
    assert store.admit("k3", "thr_1", message("em_3")) == "queued"
    assert store.admit("k4", "thr_2", message("em_4")) == "claimed"  # other threads are free
    assert [m.email_id for m in store.finish("thr_1")] == ["em_2", "em_3"]
    assert store.admit("k5", "thr_1", message("em_5")) == "queued"  # still claimed
    assert [m.email_id for m in store.finish("thr_1")] == ["em_5"]
    assert store.finish("thr_1") == []  # nothing left: the claim is dropped
    assert store.admit("k6", "thr_1", message("em_6")) == "claimed"


def test_a_failed_run_gives_its_messages_back_first(make_store: MakeStore) -> None:
    store = make_store()
    store.admit("k1", "thr_1", message("em_1"))
    store.admit("k2", "thr_1", message("em_2"))
    store.release("thr_1", [message("em_1")])
    assert store.stalled() == ["thr_1"]
    claimed = store.claim("thr_1")
    assert claimed is not None
    assert [m.email_id for m in claimed] == ["em_1", "em_2"]
    assert store.claim("thr_1") is None  # claimed now
    assert store.stalled() == []


def test_an_abandoned_claim_expires_after_the_lease(make_store: MakeStore) -> None:
    store = make_store(lease=0.05)
    store.admit("k1", "thr_1", message("em_1"))
    store.admit("k2", "thr_1", message("em_2"))
    assert store.stalled() == []
    time.sleep(0.1)
    assert store.stalled() == ["thr_1"]
    assert store.admit("k3", "thr_1", message("em_3")) == "claimed"


def test_targets_are_remembered_and_replaced(make_store: MakeStore) -> None:
    store = make_store()
    assert store.target("thr_1") is None
    store.set_target("thr_1", "thread_a")
    store.set_target("thr_1", "resp_2")
    assert store.target("thr_1") == "resp_2"


def test_held_emails_are_marked_seen(make_store: MakeStore) -> None:
    store = make_store()
    store.mark_seen("email:em_9")
    assert store.admit("email:em_9", "thr_9", message("em_9")) == "duplicate"


def test_sqlite_keeps_everything_across_a_restart(tmp_path: Path) -> None:
    first = SQLiteRouteStore(tmp_path / "r.db")
    first.admit("k1", "thr_1", message("em_1"))
    first.admit("k2", "thr_1", message("em_2"))
    first.set_target("thr_1", "thread_a")
    first.close()
    second = SQLiteRouteStore(tmp_path / "r.db", lease=0.01)
    time.sleep(0.02)  # the first worker's claim is now abandoned
    assert second.admit("k1", "thr_1", message("em_1")) == "duplicate"
    assert second.target("thr_1") == "thread_a"
    assert second.stalled() == ["thr_1"]
    claimed = second.claim("thr_1")
    assert claimed is not None
    assert [m.text for m in claimed] == ["about em_2"]


def test_only_one_of_many_racing_deliveries_claims(make_store: MakeStore) -> None:
    store = make_store()
    results: list[str] = []
    lock = threading.Lock()

    def deliver(n: int) -> None:
        outcome = store.admit(f"k{n % 5}", "thr_1", message(f"em_{n % 5}"))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("claimed") == 1
    assert results.count("queued") == 4  # five distinct emails
    assert results.count("duplicate") == 35


def test_a_lease_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lease"):
        MemoryRouteStore(lease=0)
    with pytest.raises(ValueError, match="lease"):
        SQLiteRouteStore(tmp_path / "x.db", lease=-1)
