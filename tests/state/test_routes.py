"""The route store contract (seen deliveries, claims, queues, links), on every backend."""

from __future__ import annotations

import copy
import pickle
import threading
import time
from pathlib import Path

import pytest

from mm_assistants.state import (
    InboundMessage,
    MemoryRouteStore,
    SQLiteRouteStore,
    open_route_store,
)
from mm_assistants.state.routes import Claimed, ClaimedMessages
from tests.state.conftest import Backend


def message(email_id: str) -> InboundMessage:
    return InboundMessage(email_id=email_id, text=f"about {email_id}")


def test_the_first_message_claims_the_thread_and_a_repeat_is_a_duplicate(
    backend: Backend,
) -> None:
    store = backend.routes()
    assert not store.seen("email:em_1")
    assert store.admit("email:em_1", "thr_1", message("em_1")) == "claimed"
    assert store.admit("email:em_1", "thr_1", message("em_1")) == "duplicate"
    assert store.seen("email:em_1")


def test_messages_queue_behind_a_claim_and_come_back_in_order(backend: Backend) -> None:
    store = backend.routes()
    store.admit("k1", "thr_1", message("em_1"))
    assert store.admit("k2", "thr_1", message("em_2")) == "queued"
    assert store.admit("k3", "thr_1", message("em_3")) == "queued"
    assert store.admit("k4", "thr_2", message("em_4")) == "claimed"  # other threads are free
    assert [m.email_id for m in store.finish("thr_1")] == ["em_2", "em_3"]
    assert store.admit("k5", "thr_1", message("em_5")) == "queued"  # still claimed
    assert [m.email_id for m in store.finish("thr_1")] == ["em_5"]
    assert store.finish("thr_1") == []  # nothing left: the claim is dropped
    assert store.admit("k6", "thr_1", message("em_6")) == "claimed"


def test_a_failed_run_gives_its_messages_back_first(backend: Backend) -> None:
    store = backend.routes()
    store.admit("k1", "thr_1", message("em_1"))
    store.admit("k2", "thr_1", message("em_2"))
    store.release("thr_1", [message("em_1")])
    assert store.stalled() == ["thr_1"]
    claimed = store.claim("thr_1")
    assert claimed is not None
    assert [m.email_id for m in claimed] == ["em_1", "em_2"]
    assert store.claim("thr_1") is None  # claimed now
    assert store.stalled() == []


def test_an_abandoned_claim_expires_after_the_lease(backend: Backend) -> None:
    store = backend.routes(lease=0.05)
    store.admit("k1", "thr_1", message("em_1"))
    store.admit("k2", "thr_1", message("em_2"))
    assert store.stalled() == []
    time.sleep(0.1)
    assert store.stalled() == ["thr_1"]
    assert store.admit("k3", "thr_1", message("em_3")) == "claimed"


def test_targets_are_remembered_and_replaced(backend: Backend) -> None:
    store = backend.routes()
    assert store.target("thr_1") is None
    store.set_target("thr_1", "thread_a")
    store.set_target("thr_1", "resp_2")
    assert store.target("thr_1") == "resp_2"
    assert backend.routes().target("thr_1") == "resp_2"  # another connection sees it


def test_held_emails_are_marked_seen(backend: Backend) -> None:
    store = backend.routes()
    store.mark_seen("email:em_9")
    store.mark_seen("email:em_9")
    assert store.admit("email:em_9", "thr_9", message("em_9")) == "duplicate"


def test_only_one_of_many_racing_deliveries_claims(backend: Backend) -> None:
    stores = [backend.routes() for _ in range(4)]  # separate connections where there are any
    results: list[str] = []
    lock = threading.Lock()

    def deliver(n: int) -> None:
        outcome = stores[n % 4].admit(f"k{n % 5}", "thr_1", message(f"em_{n % 5}"))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results.count("claimed") == 1
    assert results.count("queued") == 4  # five distinct emails
    assert results.count("duplicate") == 35


@pytest.mark.parametrize("lease", [0, -1, float("nan"), True, "900"])
def test_a_lease_must_be_a_positive_number(backend: Backend, lease: object) -> None:
    with pytest.raises(ValueError, match="lease"):
        backend.routes(lease=lease)  # type: ignore[arg-type]


def test_the_memory_store_forgets_the_oldest_keys_past_its_limit() -> None:
    store = MemoryRouteStore(seen_limit=2)
    for key in ("a", "b", "c"):
        store.mark_seen(key)
    assert [store.seen(key) for key in ("a", "b", "c")] == [False, True, True]
    assert "MemoryRouteStore(" in repr(store)


def test_sqlite_keeps_everything_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    first = SQLiteRouteStore(path)
    first.admit("k1", "thr_1", message("em_1"))
    first.admit("k2", "thr_1", message("em_2"))
    first.set_target("thr_1", "thread_a")
    first.close()
    second = SQLiteRouteStore(path, lease=0.01)
    time.sleep(0.02)  # the first worker's claim is now abandoned
    assert second.admit("k1", "thr_1", message("em_1")) == "duplicate"
    assert second.target("thr_1") == "thread_a"
    assert second.stalled() == ["thr_1"]
    claimed = second.claim("thr_1")
    assert claimed is not None
    assert [m.text for m in claimed] == ["about em_2"]
    assert "r.db" in repr(second)
    second.close()


def test_a_store_is_opened_from_a_path_a_store_or_nothing(tmp_path: Path) -> None:
    assert isinstance(open_route_store(None), MemoryRouteStore)
    given = MemoryRouteStore()
    assert open_route_store(given) is given
    opened = open_route_store(tmp_path / "routes.db")
    assert isinstance(opened, SQLiteRouteStore)
    opened.close()  # type: ignore[attr-defined]


def test_a_failed_run_with_nothing_to_give_back_only_drops_its_claim(backend: Backend) -> None:
    store = backend.routes()
    assert store.admit("k1", "thr_1", message("em_1")) == "claimed"
    store.release("thr_1", [])
    assert store.stalled() == []  # nothing queued: nothing to pick up
    assert store.claim("thr_1") == []  # the claim was dropped: free again


# -- fencing tokens, heartbeats and parked claims ------------------------------------------


def emails(messages: list[InboundMessage] | None) -> list[str]:
    assert messages is not None
    return [m.email_id for m in messages]


def test_a_claim_has_a_token_larger_than_every_earlier_one(backend: Backend) -> None:
    store = backend.routes()
    assert store.token("thr_1") is None
    assert store.admit("k1", "thr_1", message("em_1")) == "claimed"
    first = store.token("thr_1")
    assert isinstance(first, int)
    assert store.admit("k2", "thr_2", message("em_2")) == "claimed"
    second = store.token("thr_2")
    assert second is not None
    assert second > first
    assert store.admit("k3", "thr_1", message("em_3")) == "queued"
    assert store.token("thr_1") == first  # queueing does not change the claim
    assert emails(store.finish("thr_1", token=first)) == ["em_3"]
    assert store.token("thr_1") == first  # the same worker runs again
    assert store.finish("thr_1", token=first) == []
    assert store.token("thr_1") is None  # dropped
    store.admit("k4", "thr_1", message("em_4"))
    third = store.token("thr_1")
    assert third is not None
    assert third > second


def test_a_stale_token_changes_nothing(backend: Backend) -> None:
    store = backend.routes(lease=0.05)
    store.admit("k1", "thr_1", message("em_1"))
    stale = store.token("thr_1")
    assert stale is not None
    time.sleep(0.1)  # the first worker stalled past its lease
    assert store.admit("k2", "thr_1", message("em_2")) == "claimed"  # a second worker took over
    live = store.token("thr_1")
    assert live is not None
    assert live > stale
    store.admit("k3", "thr_1", message("em_3"))  # queued behind the second worker

    assert store.heartbeat("thr_1", stale) is False
    assert store.park("thr_1", stale, "cp_stale") is False
    assert store.parked("thr_1") is None
    assert store.finish("thr_1", token=stale) == []  # the queue is not the stale worker's
    store.release("thr_1", [message("em_1")], token=stale)
    assert store.token("thr_1") == live  # the live claim stays
    # the stale worker's message goes back (it was never answered); em_3 stays queued
    assert emails(store.finish("thr_1", token=live)) == ["em_1", "em_3"]


def test_a_heartbeat_keeps_a_claim_past_its_lease(backend: Backend) -> None:
    store = backend.routes(lease=0.3)
    store.admit("k1", "thr_1", message("em_1"))
    token = store.token("thr_1")
    assert token is not None
    store.admit("k2", "thr_1", message("em_2"))
    deadline = time.monotonic() + 0.9  # three leases
    while time.monotonic() < deadline:
        assert store.heartbeat("thr_1", token) is True
        time.sleep(0.05)
    assert store.stalled() == []
    assert store.claim("thr_1") is None
    assert store.admit("k3", "thr_1", message("em_3")) == "queued"
    assert store.token("thr_1") == token


def test_a_token_release_drops_only_its_own_claim(backend: Backend) -> None:
    store = backend.routes()
    store.admit("k1", "thr_1", message("em_1"))
    token = store.token("thr_1")
    assert token is not None
    store.release("thr_1", [message("em_1")], token=token)
    assert store.token("thr_1") is None
    assert store.stalled() == []  # its run raised: not due before its backoff (issue 16)
    assert store.backing_off("thr_1") > 0


def test_a_parked_claim_never_lapses_and_queues_arrivals(backend: Backend) -> None:
    store = backend.routes(lease=0.05)
    store.admit("k1", "thr_1", message("em_1"))
    token = store.token("thr_1")
    assert token is not None
    assert store.park("thr_1", token, "cp_1") is True
    assert store.parked("thr_1") == "cp_1"
    assert store.finish("thr_1", token=token) == []  # the drive ended parked: the claim stays
    assert store.finish("thr_1") == []
    time.sleep(0.1)  # longer than the lease
    assert store.admit("k2", "thr_1", message("em_2")) == "queued"
    assert store.token("thr_1") == token
    assert store.stalled() == []
    assert store.claim("thr_1") is None
    store.release("thr_1", [])
    assert store.parked("thr_1") == "cp_1"  # a failure elsewhere does not drop a park
    assert store.heartbeat("thr_1", token) is True  # still the thread's claim; nothing renewed


def test_unpark_gives_a_fresh_claim_and_the_queue_once(backend: Backend) -> None:
    store = backend.routes()
    store.admit("k0", "thr_0", message("em_0"))  # another thread's claim, for ordering
    store.admit("k1", "thr_1", message("em_1"))
    parked_token = store.token("thr_1")
    assert parked_token is not None
    assert store.park("thr_1", parked_token, "cp_1")
    store.admit("k2", "thr_1", message("em_2"))
    store.admit("k3", "thr_1", message("em_3"))
    assert store.unpark("thr_1", "cp_other") is None
    resumed = store.unpark("thr_1", "cp_1")
    assert resumed is not None
    token, queued = resumed
    assert token > parked_token
    assert emails(queued) == ["em_2", "em_3"]
    assert store.unpark("thr_1", "cp_1") is None  # once
    assert store.parked("thr_1") is None
    assert store.token("thr_1") == token
    assert store.park("thr_1", parked_token, "cp_2") is False  # the parking claim is stale now
    assert store.finish("thr_1", token=token) == []
    assert store.token("thr_1") is None


def test_racing_resumers_unpark_once(backend: Backend) -> None:
    stores = [backend.routes() for _ in range(4)]
    stores[0].admit("k1", "thr_1", message("em_1"))
    token = stores[0].token("thr_1")
    assert token is not None
    stores[0].park("thr_1", token, "cp_1")
    stores[0].admit("k2", "thr_1", message("em_2"))
    results: list[object] = []
    lock = threading.Lock()

    def resume(n: int) -> None:
        outcome = stores[n % 4].unpark("thr_1", "cp_1")
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=resume, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    won = [r for r in results if r is not None]
    assert len(results) == 12
    assert len(won) == 1


# -- the token comes with the claim (never read afterwards, when it may be another's) ------


def test_admit_hands_back_the_token_of_the_claim_it_took(backend: Backend) -> None:
    first, second = backend.routes(lease=0.05), backend.routes(lease=0.05)
    mine = first.admit("k1", "thr_1", message("em_1"))
    assert mine == "claimed"  # code comparing with the string keeps working
    assert isinstance(mine, Claimed)
    assert mine.token == first.token("thr_1")
    time.sleep(0.1)  # this worker paused past its lease; another takes the thread
    theirs = second.admit("k2", "thr_1", message("em_2"))
    assert isinstance(theirs, Claimed)
    assert theirs.token > mine.token
    # reading the token now would adopt the other worker's claim; the one handed back is ours
    assert first.token("thr_1") == theirs.token
    assert first.heartbeat("thr_1", mine.token) is False
    assert first.finish("thr_1", token=mine.token) == []
    assert second.heartbeat("thr_1", theirs.token) is True
    assert first.admit("k3", "thr_1", message("em_3")) == "queued"  # not a Claimed
    assert not isinstance(first.admit("k3", "thr_1", message("em_3")), Claimed)


def test_claim_hands_back_the_token_of_the_claim_it_took(backend: Backend) -> None:
    first, second = backend.routes(lease=0.05), backend.routes(lease=0.05)
    first.admit("k1", "thr_1", message("em_1"))
    first.release("thr_1", [message("em_1")])
    mine = first.claim("thr_1")
    assert isinstance(mine, ClaimedMessages)
    assert emails(mine) == ["em_1"]
    assert mine == [message("em_1")] or emails(mine) == ["em_1"]  # still a list of messages
    assert mine.token == first.token("thr_1")
    first.release("thr_1", list(mine), token=mine.token)
    again = first.claim("thr_1")
    assert isinstance(again, ClaimedMessages)
    assert again.token > mine.token
    time.sleep(0.1)  # lapsed: another worker claims the thread
    theirs = second.claim("thr_1")
    assert isinstance(theirs, ClaimedMessages)
    assert theirs == []  # the queue went with the earlier claim
    assert theirs.token > again.token
    assert first.heartbeat("thr_1", again.token) is False
    assert second.heartbeat("thr_1", theirs.token) is True


def test_the_token_types_survive_copying() -> None:
    claimed = Claimed(7)
    assert pickle.loads(pickle.dumps(claimed)).token == 7
    assert copy.copy(claimed) == "claimed"
    assert f"{claimed}" == "claimed"
    assert repr(claimed) == "Claimed(token=7)"
    taken = ClaimedMessages([message("em_1")], 9)
    assert pickle.loads(pickle.dumps(taken)).token == 9
    assert emails(copy.copy(taken)) == ["em_1"]


def test_a_target_with_a_token_is_written_only_by_the_threads_claim(backend: Backend) -> None:
    first, second = backend.routes(lease=0.05), backend.routes(lease=0.05)
    mine = first.admit("k1", "thr_1", message("em_1"))
    assert isinstance(mine, Claimed)
    assert first.set_target("thr_1", "resp_mine_1", token=mine.token) is True
    assert first.target("thr_1") == "resp_mine_1"
    time.sleep(0.1)
    theirs = second.admit("k2", "thr_1", message("em_2"))
    assert isinstance(theirs, Claimed)
    assert second.set_target("thr_1", "resp_theirs", token=theirs.token) is True
    # the worker that lost the thread cannot move the new owner's conversation
    assert first.set_target("thr_1", "resp_mine_2", token=mine.token) is False
    assert second.target("thr_1") == "resp_theirs"
    assert first.set_target("thr_2", "resp_x", token=mine.token) is False  # no claim there
    assert first.target("thr_2") is None
    assert second.park("thr_1", theirs.token, "cp_1")
    assert second.set_target("thr_1", "resp_parked", token=theirs.token) is True
    assert first.set_target("thr_1", "resp_admin") is True  # without a token: as before
    assert second.target("thr_1") == "resp_admin"


def test_enqueue_admits_without_claiming_and_stalled_finds_it(backend: Backend) -> None:
    store = backend.routes()
    assert store.enqueue("email:em_1", "thr_1", message("em_1")) == "queued"
    assert store.enqueue("email:em_1", "thr_1", message("em_1")) == "duplicate"
    assert store.token("thr_1") is None  # the web process never claims
    assert store.stalled() == ["thr_1"]
    claimed = store.claim("thr_1")
    assert claimed is not None
    assert emails(claimed) == ["em_1"]
