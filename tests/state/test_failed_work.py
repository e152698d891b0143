"""Work that ends as failed, and the operator's lists, on every backend (issue 15 mutation
review): a thread that fails twice keeps every message set aside, a claim with nothing
taken fails with nothing kept, a thread never parked has no checkpoint, and the lists
(`RouteStore.failed`, `CheckpointStore.lapsed`) are ordered and bounded by default."""

from __future__ import annotations

import time

from mm_assistants.state import InboundMessage
from tests.state.conftest import Backend


def message(email_id: str) -> InboundMessage:
    return InboundMessage(email_id, f"text of {email_id}", received_at=1.0)


def test_a_thread_that_fails_again_keeps_what_its_first_failure_set_aside(
    backend: Backend,
) -> None:
    store = backend.routes()
    store.enqueue("k1", "thr_1", message("em_1"))
    first = store.claim("thr_1")
    assert first == [message("em_1")]
    assert first is not None
    assert store.fail("thr_1", first.token, "first failure")
    store.enqueue("k2", "thr_1", message("em_2"))  # the sender writes again
    second = store.claim("thr_1")
    assert second == [message("em_2")]
    assert second is not None
    assert store.fail("thr_1", second.token, "second failure")
    [failed] = store.failed()
    assert (failed.mm_thread, failed.reason) == ("thr_1", "second failure")
    assert [m.email_id for m in failed.messages] == ["em_1", "em_2"]


def test_a_claim_that_took_nothing_fails_with_nothing_kept(backend: Backend) -> None:
    store = backend.routes()
    claimed = store.claim("thr_empty")
    assert claimed == []
    assert claimed is not None
    assert store.fail("thr_empty", claimed.token, "gave up")
    [failed] = store.failed()
    assert (failed.mm_thread, failed.reason, failed.messages) == ("thr_empty", "gave up", ())
    assert store.token("thr_empty") is None  # its claim is dropped


def test_a_thread_without_a_parked_run_names_no_checkpoint(backend: Backend) -> None:
    store = backend.routes()
    assert store.parked("thr_never_seen") is None
    store.enqueue("k1", "thr_1", message("em_1"))
    claimed = store.claim("thr_1")
    assert claimed is not None
    assert store.parked("thr_1") is None  # claimed and running, not parked
    assert store.park("thr_1", claimed.token, "ck_1")
    assert store.parked("thr_1") == "ck_1"


def test_failed_lists_at_most_100_threads_by_default(backend: Backend) -> None:
    store = backend.routes()
    for n in range(101):
        claimed = store.claim(f"thr_{n:03}")
        assert claimed is not None
        assert store.fail(f"thr_{n:03}", claimed.token, "lost")
    assert len(store.failed()) == 100
    assert len(store.failed(limit=101)) == 101


def test_lapsed_lists_the_longest_lapsed_first_and_at_most_100_by_default(
    backend: Backend,
) -> None:
    store = backend.checkpoints()
    # claimed in an order that is not the order their claims run out in (PostgreSQL counts
    # a lease from its own clock and ends one already past at once: leases in the future)
    for name, lease in (("cp_b", 0.2), ("cp_a", 0.1), ("cp_c", 0.3)):
        store.put(name, b"{}", format_version=1)
        assert store.claim(name, until=time.time() + lease) is not None
    time.sleep(0.4)
    assert store.lapsed() == ["cp_a", "cp_b", "cp_c"]
    assert store.lapsed(2) == ["cp_a", "cp_b"]
    for n in range(98):
        name = f"cp_{n:03}"
        store.put(name, b"{}", format_version=1)
        assert store.claim(name, until=time.time() - 1.0) is not None
    assert len(store.lapsed()) == 100
    assert len(store.lapsed(101)) == 101


LEASE = 0.05
LAPSE = 0.1  # longer than LEASE: the claim's worker is taken for dead


def test_stalled_lists_the_longest_waiting_first_at_most_limit(backend: Backend) -> None:
    store = backend.routes()
    for n in (1, 2, 3):
        store.enqueue(f"k{n}", f"thr_{n}", message(f"em_{n}"))
        time.sleep(0.01)  # a later arrival, on a coarse clock
    assert store.stalled() == ["thr_1", "thr_2", "thr_3"]
    assert store.stalled(None) == ["thr_1", "thr_2", "thr_3"]
    assert store.stalled(2) == ["thr_1", "thr_2"]
    assert store.stalled(1) == ["thr_1"]
    assert store.stalled(0) == []
    assert store.stalled(-1) == []  # a negative limit lists nothing, never "all but one"


def test_each_lost_worker_counts_one_more_attempt(backend: Backend) -> None:
    store = backend.routes(lease=LEASE)
    store.enqueue("k1", "thr_1", message("em_1"))
    counted = []
    for _ in range(3):
        claimed = store.claim("thr_1", recover=True)
        assert claimed == [message("em_1")]
        assert claimed is not None
        counted.append((claimed.attempts, store.attempts("thr_1")))
        time.sleep(LAPSE)  # its worker dies: the claim lapses with em_1 taken
    assert counted == [(0, 0), (1, 1), (2, 2)]


def test_a_lapsed_claim_that_took_nothing_is_taken_over_as_a_lost_worker(
    backend: Backend,
) -> None:
    store = backend.routes(lease=LEASE)
    first = store.claim("thr_1")
    assert first == []
    time.sleep(LAPSE)
    again = store.claim("thr_1", recover=True)
    assert again == []
    assert again is not None
    assert again.token != first.token
    assert (again.attempts, store.attempts("thr_1")) == (1, 1)
