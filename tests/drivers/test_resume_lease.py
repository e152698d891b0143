"""`Lease` (mm_assistants.drivers.parked): a resume's claim on a checkpoint, renewed by a
heartbeat, fenced on every write, and lost for good once someone else holds it."""

from __future__ import annotations

import threading
import time

from mm_assistants.drivers import parking
from mm_assistants.drivers.parked import Lease
from mm_assistants.state import CheckpointClaim, MemoryCheckpointStore

BEAT = 0.15  # lease seconds: renewed every 0.05 s


def claimed(store: MemoryCheckpointStore) -> Lease:
    store.put("park_resp_1", b"{}", format_version=1)
    claim = store.claim("park_resp_1", until=time.time() + BEAT)
    assert isinstance(claim, CheckpointClaim)
    return Lease(store, claim, BEAT)


def wait_for(condition: threading.Event, timeout: float = 2.0) -> bool:
    return condition.wait(timeout)


def test_a_renewed_lease_outlives_its_first_term() -> None:
    store = MemoryCheckpointStore()
    lease = claimed(store)
    first = lease.token
    try:
        time.sleep(BEAT * 3)
        assert not lease.lost
        assert store.claim("park_resp_1", until=time.time() + 60) is None  # still held
        assert lease.token == first  # renewed in place: the same fence, a later end
        held = store.get("park_resp_1")
        assert held is not None
        assert held.fence == first
        assert held.claimed_until is not None
        assert held.claimed_until > time.time() + BEAT / 3
    finally:
        lease.release()
    assert store.claim("park_resp_1", until=time.time() + 60) is not None  # released


def test_a_lease_someone_else_took_is_lost_and_writes_nothing() -> None:
    store = MemoryCheckpointStore()
    lease = claimed(store)
    lease._beat.close()  # a stalled worker: no renewal
    time.sleep(BEAT + 0.05)
    other = store.claim("park_resp_1", until=time.time() + 60)
    assert other is not None

    checkpoint = parking.first_checkpoint(
        "resp_1",
        [],
        request={"model": "m"},
        fingerprint=parking.Fingerprint("v1", "0" * 64, {}),
        meta={},
        steps=0,
        now=time.time(),
    )
    assert not lease.put(checkpoint)
    lease.finish()  # a stale finish deletes nothing
    kept = store.get("park_resp_1")
    assert kept is not None
    assert kept.record == b"{}"
    assert kept.fence == other.token


def test_a_heartbeat_that_finds_the_checkpoint_gone_marks_the_lease_lost() -> None:
    store = MemoryCheckpointStore()
    lease = claimed(store)
    try:
        store.delete("park_resp_1")
        assert wait_for(lease._beat.lost)
        assert lease.lost
    finally:
        lease.release()
