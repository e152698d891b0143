"""The memory backends' boundaries on a controlled clock (issue 15 mutation review): a
resume's claim lapses exactly at its lease's end, a checkpoint claim that ends now is
listed as lapsed, and claims that ended at the very start of the epoch sort first."""

from __future__ import annotations

import time

import pytest

from mm_assistants.state.memory import MemoryCheckpointStore, MemoryRouteStore
from mm_assistants.state.routes import Claimed, InboundMessage


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


def test_a_resumes_claim_lapses_exactly_at_its_lease_end(clock: list[float]) -> None:
    store = MemoryRouteStore(lease=30.0)
    admitted = store.admit("k1", "thr_1", InboundMessage("em_1", "hi", received_at=0.0))
    assert isinstance(admitted, Claimed)
    assert store.park("thr_1", admitted.token, "ck_1")
    resumed = store.unpark("thr_1", "ck_1")
    assert resumed is not None
    assert store.parked("thr_1") is None  # being resumed
    clock[0] = 1_029.999
    assert store.parked("thr_1") is None  # its resumer still holds it
    assert store.unpark("thr_1", "ck_1") is None
    clock[0] = 1_030.0
    assert store.parked("thr_1") == "ck_1"  # its resumer died: resume it again
    again = store.unpark("thr_1", "ck_1")
    assert again is not None
    assert again[0] > resumed[0]


def test_a_checkpoint_claim_ending_now_is_lapsed(clock: list[float]) -> None:
    store = MemoryCheckpointStore()
    store.put("ck_now", b"{}", format_version=1)
    store.put("ck_later", b"{}", format_version=1)
    assert store.claim("ck_now", until=1_000.0) is not None
    assert store.claim("ck_later", until=1_000.001) is not None
    assert store.lapsed() == ["ck_now"]


def test_claims_that_ended_at_the_start_of_the_epoch_sort_first(clock: list[float]) -> None:
    store = MemoryCheckpointStore()
    store.put("ck_half", b"{}", format_version=1)
    store.put("ck_zero", b"{}", format_version=1)
    assert store.claim("ck_half", until=0.5) is not None
    assert store.claim("ck_zero", until=0.0) is not None
    assert store.lapsed() == ["ck_zero", "ck_half"]


def test_a_released_thread_is_stalled_again_exactly_when_its_backoff_ends(
    clock: list[float],
) -> None:
    store = MemoryRouteStore(lease=30.0)
    first = InboundMessage("em_1", "hi", received_at=0.0)
    admitted = store.admit("k1", "thr_1", first)
    assert isinstance(admitted, Claimed)
    store.release("thr_1", [first], token=admitted.token)  # its run raised: attempt 1, 5 s
    clock[0] = 1_004.999
    assert store.stalled() == []
    assert store.backing_off("thr_1") == pytest.approx(0.001)
    clock[0] = 1_005.0
    assert store.stalled() == ["thr_1"]
    assert store.backing_off("thr_1") == 0.0
