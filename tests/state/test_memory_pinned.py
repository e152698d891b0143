"""The memory backends' edges, pinned (issue 14): a lease that ends exactly now, giving
back what was never taken, the seen store's bounds and pruning, and what a checkpoint
claim and write report."""

from __future__ import annotations

import time

import pytest

from mm_assistants.state.memory import (
    MemoryCheckpointStore,
    MemoryRouteStore,
    MemorySeenStore,
)
from mm_assistants.state.routes import InboundMessage


def test_a_route_lease_ends_exactly_at_its_length(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    store = MemoryRouteStore(lease=30.0)
    message = InboundMessage("em_1", "hi", received_at=0.0)
    assert store.admit("k1", "th_1", message) == "claimed"
    clock[0] = 1_029.999
    assert store.claim("th_1") is None  # still leased
    clock[0] = 1_030.0
    assert store.claim("th_1") == []  # the lease has ended: anyone may take the thread


def test_giving_back_what_was_never_taken_changes_nothing() -> None:
    routes = MemoryRouteStore()
    assert routes.finish("th_never") == []
    routes.release("th_never", [])
    assert routes.stalled() == []
    seen = MemorySeenStore()
    seen.release(["never"])
    assert len(seen) == 0


def test_a_seen_store_of_one_entry_is_allowed_and_zero_is_refused() -> None:
    assert MemorySeenStore(max_entries=1).max_entries == 1
    with pytest.raises(ValueError) as refused:
        MemorySeenStore(max_entries=0)
    assert str(refused.value) == "max_entries must be an int >= 1, not 0"


def test_a_first_claim_succeeds_early_in_the_epoch() -> None:
    store = MemorySeenStore()
    assert store.claim(["k"], now=0.5, keep_until=10.0) is True
    assert store.claim(["k"], now=0.6, keep_until=10.0) is False


def test_expired_keys_are_pruned_only_past_the_limit() -> None:
    store = MemorySeenStore(max_entries=2)
    assert store.claim(["k1"], now=0.0, keep_until=5.0)
    assert store.claim(["k2"], now=10.0, keep_until=20.0)
    assert len(store) == 2  # at the limit, not past it: the expired key is still held
    assert store.claim(["k3"], now=10.0, keep_until=20.0)
    assert len(store) == 2  # past it: the expired key went first


def test_keys_expiring_exactly_now_are_pruned_together() -> None:
    store = MemorySeenStore(max_entries=3)
    assert store.claim(["k1", "k2"], now=0.0, keep_until=10.0)
    assert store.claim(["k3"], now=0.0, keep_until=30.0)
    assert store.claim(["k4"], now=10.0, keep_until=30.0)
    assert len(store) == 2  # both keys ending at 10 expired at 10, not just one


def test_a_checkpoint_write_is_stamped_and_a_claim_says_until_when() -> None:
    store = MemoryCheckpointStore()
    before = time.time()
    assert store.put("run_1", b"x", format_version=1)
    stored = store.get("run_1")
    assert stored is not None
    assert before <= stored.updated_at <= time.time()
    claim = store.claim("run_1", until=before + 60)
    assert claim is not None
    assert claim.until == before + 60
    assert claim.checkpoint.claimed_until == before + 60
