"""The run checkpoint store contract (claims with a lease and a fencing token), on every
backend."""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mm_assistants.state import (
    Checkpoint,
    CheckpointStore,
    MemoryCheckpointStore,
    SQLiteCheckpointStore,
)
from tests.state.conftest import Backend

SECRET = b"sk-do-not-log-me"


def test_a_checkpoint_is_stored_read_and_replaced(backend: Backend) -> None:
    store = backend.checkpoints()
    assert store.get("run_1") is None
    assert store.put("run_1", b'{"step": 1}', format_version=1)
    assert store.put("run_1", b'{"step": 2}', format_version=2)
    got = store.get("run_1")
    assert got is not None
    assert (got.checkpoint_id, got.record, got.format_version) == ("run_1", b'{"step": 2}', 2)
    assert (got.fence, got.claimed_until) == (0, None)
    assert backend.checkpoints().get("run_1") == got  # another connection reads the same


def test_a_claim_is_exclusive_until_released_or_lapsed(backend: Backend) -> None:
    store = backend.checkpoints()
    assert store.claim("missing", until=time.time() + 60) is None
    store.put("run_1", b"{}", format_version=1)
    first = store.claim("run_1", until=time.time() + 60)
    assert first is not None
    assert first.checkpoint.record == b"{}"
    assert first.checkpoint.fence == first.token
    assert backend.checkpoints().claim("run_1", until=time.time() + 60) is None
    assert store.release("run_1", first.token)
    second = store.claim("run_1", until=time.time() - 1)  # a lease already over
    assert second is not None
    assert second.token > first.token
    third = store.claim("run_1", until=time.time() + 60)  # the lapsed lease is taken over
    assert third is not None
    assert third.token > second.token


def test_release_and_writes_check_the_fencing_token(backend: Backend) -> None:
    store = backend.checkpoints()
    store.put("run_1", b"v1", format_version=1)
    stale = store.claim("run_1", until=time.time() - 1)  # its holder stalls past the lease
    assert stale is not None
    fresh = store.claim("run_1", until=time.time() + 60)
    assert fresh is not None
    # the stalled holder wakes up: nothing it does lands
    assert not store.put("run_1", b"stale", format_version=1, token=stale.token)
    assert not store.release("run_1", stale.token)
    assert not store.delete("run_1", token=stale.token)
    assert store.get("run_1") is not None
    assert store.get("run_1").record == b"v1"  # type: ignore[union-attr]
    # the live holder's do, and its claim outlives its writes
    assert store.put("run_1", b"v2", format_version=1, token=fresh.token)
    assert store.claim("run_1", until=time.time() + 60) is None
    assert store.release("run_1", fresh.token)
    assert not store.release("run_1", fresh.token)  # released already
    assert store.delete("run_1", token=fresh.token)
    assert store.get("run_1") is None
    assert not store.delete("run_1")
    assert not store.put("run_1", b"v3", format_version=1, token=fresh.token)


def test_a_renewal_keeps_the_claim_and_its_token(backend: Backend) -> None:
    store = backend.checkpoints()
    assert not store.renew("missing", 1, until=time.time() + 60)
    store.put("run_1", b"{}", format_version=1)
    claim = store.claim("run_1", until=time.time() + 0.3)
    assert claim is not None
    assert store.renew("run_1", claim.token, until=time.time() + 60)
    time.sleep(0.5)  # past the first lease: the renewal holds it
    assert backend.checkpoints().claim("run_1", until=time.time() + 60) is None
    assert store.put("run_1", b"v2", format_version=1, token=claim.token)  # same token
    assert not store.renew("run_1", claim.token + 1, until=time.time() + 60)
    assert store.release("run_1", claim.token)
    assert not store.renew("run_1", claim.token, until=time.time() + 60)  # released: over
    later = store.claim("run_1", until=time.time() - 1)
    assert later is not None
    taken = store.claim("run_1", until=time.time() + 60)  # the lapsed lease is taken over
    assert taken is not None
    assert not store.renew("run_1", later.token, until=time.time() + 60)  # stale: refused
    assert store.get("run_1").fence == taken.token  # type: ignore[union-attr]


def test_tokens_never_repeat_after_a_delete(backend: Backend) -> None:
    store = backend.checkpoints()
    store.put("run_1", b"{}", format_version=1)
    old = store.claim("run_1", until=time.time() + 60)
    assert old is not None
    assert store.delete("run_1")  # unconditional: an operator's clean-up
    store.put("run_1", b"{}", format_version=1)
    assert not store.put("run_1", b"x", format_version=1, token=old.token)
    new = store.claim("run_1", until=time.time() + 60)
    assert new is not None
    assert new.token > old.token


def test_racing_claimers_get_one_claim(backend: Backend) -> None:
    stores = [backend.checkpoints() for _ in range(6)]
    for n in range(10):
        stores[0].put(f"run_{n}", b"{}", format_version=1)
    won: list[tuple[str, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(len(stores))

    def claimer(store: CheckpointStore) -> None:
        start.wait(10)
        for n in range(10):
            claim = store.claim(f"run_{n}", until=time.time() + 60)
            if claim is not None:
                with lock:
                    won.append((f"run_{n}", claim.token))

    threads = [threading.Thread(target=claimer, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(name for name, _ in won) == [f"run_{n}" for n in range(10)]
    assert len({token for _, token in won}) == 10


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        pytest.param(("", b"{}", 1), ValueError, id="empty-id"),
        pytest.param(("run_1", "{}", 1), TypeError, id="text-record"),
        pytest.param(("run_1", b"{}", "1"), TypeError, id="text-version"),
        pytest.param(("run_1", b"{}", True), TypeError, id="bool-version"),
        pytest.param(("run_1", b"{}", 0), ValueError, id="version-0"),
    ],
)
def test_what_no_backend_stores_is_refused(
    backend: Backend, arguments: tuple[object, object, object], error: type[Exception]
) -> None:
    checkpoint_id, record, version = arguments
    with pytest.raises(error):
        backend.checkpoints().put(checkpoint_id, record, format_version=version)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "odd",
    [pytest.param("text, not bytes " + SECRET.decode(), id="text"), pytest.param(7, id="int")],
)
def test_an_unreadable_row_is_quarantined(
    backend: Backend, odd: object, caplog: pytest.LogCaptureFixture
) -> None:
    if backend.corrupt is None:
        pytest.skip(f"{backend.name} keeps objects, not rows: nothing can be unreadable")
    store = backend.checkpoints()
    store.put("run_ok", b"{}", format_version=1)
    backend.corrupt("checkpoint", "run_odd", odd)
    with caplog.at_level(logging.DEBUG):
        assert store.claim("run_odd", until=time.time() + 60) is None
    assert store.get("run_odd") is None
    assert [row[0] for row in store.quarantined()] == ["run_odd"]  # type: ignore[attr-defined]
    assert "run_odd" in caplog.text
    assert SECRET.decode() not in caplog.text
    assert store.get("run_ok") is not None


def test_a_checkpoint_never_shows_its_record() -> None:
    checkpoint = Checkpoint("run_1", SECRET, 1, 0.0)
    assert SECRET.decode() not in repr(checkpoint)
    assert "16 bytes" in repr(checkpoint)
    assert "MemoryCheckpointStore(" in repr(MemoryCheckpointStore())


STEPS = st.lists(
    st.tuples(
        st.sampled_from(["put", "put-fenced", "claim", "claim-lapsed", "release", "delete"]),
        st.sampled_from(["run_a", "run_b"]),
        st.integers(0, 4),
    ),
    max_size=30,
)


def apply(store: CheckpointStore, steps: list[tuple[str, str, int]]) -> list[object]:
    """Run ``steps`` on ``store``; what each returned (claims as their tokens)."""
    tokens: list[int] = []
    issued: dict[str, list[int]] = {"run_a": [], "run_b": []}  # each run's claims, in order
    said: list[object] = []
    for action, name, pick in steps:
        token = tokens[min(pick, len(tokens) - 1)] if tokens else 1
        if action == "put":
            said.append(store.put(name, bytes([pick]), format_version=1 + pick))
        elif action == "put-fenced":
            said.append(store.put(name, b"f", format_version=1, token=token))
        elif action.startswith("claim"):
            lapsed = action == "claim-lapsed"
            claim = store.claim(name, until=time.time() + (-1 if lapsed else 60))
            if claim is not None:
                assert not tokens or claim.token > max(tokens)  # tokens only grow
                tokens.append(claim.token)
                issued[name].append(claim.token)
            said.append(None if claim is None else claim.token)
        elif action == "release":
            said.append(store.release(name, token))
        else:
            said.append(store.delete(name, token=token if pick % 2 else None))
        for each in ("run_a", "run_b"):
            got = store.get(each)
            said.append(
                None if got is None else (got.record, got.format_version, got.fence, got.attempts)
            )
            if got is not None and got.claimed_until is not None:
                assert got.fence == max(issued[each])  # only a run's latest claim is live
    return said


@settings(max_examples=40, deadline=None)
@given(STEPS)
def test_the_sqlite_backend_answers_as_the_memory_one(steps: list[tuple[str, str, int]]) -> None:
    # a differential check: any sequence of calls gets the same answers from both backends
    with tempfile.TemporaryDirectory() as folder:
        sqlite = SQLiteCheckpointStore(Path(folder) / "runs.db")
        try:
            assert apply(sqlite, steps) == apply(MemoryCheckpointStore(), steps)
        finally:
            sqlite.close()


def test_lapsed_lists_checkpoints_whose_claim_ran_out_unreleased(backend: Backend) -> None:
    store = backend.checkpoints()
    for name in ("cp_died", "cp_released", "cp_live"):
        store.put(name, b"{}", format_version=1)
    died = store.claim("cp_died", until=time.time() + 0.05)
    released = store.claim("cp_released", until=time.time() + 0.05)
    assert died is not None
    assert released is not None
    assert store.claim("cp_live", until=time.time() + 60) is not None
    assert store.release("cp_released", released.token)
    time.sleep(0.2)
    assert store.lapsed(10) == ["cp_died"]
    assert store.claim("cp_died", until=time.time() + 60) is not None
    assert store.lapsed(10) == []


# -- attempts: a run that keeps dying, or raising, ends (review 16, H3) --------------------


def test_a_take_over_of_a_lapsed_claim_counts_an_attempt(backend: Backend) -> None:
    store = backend.checkpoints()
    store.put("cp", b"{}", format_version=1)
    first = store.claim("cp", until=time.time() - 1)  # its worker dies: the claim lapses
    assert first is not None
    assert first.checkpoint.attempts == 0
    second = store.claim("cp", until=time.time() + 60)
    assert second is not None
    assert second.checkpoint.attempts == 1
    assert store.put("cp", b"{}", format_version=1, token=second.token)  # a write keeps it
    assert store.release("cp", second.token)  # parked again: a released claim is no loss
    third = store.claim("cp", until=time.time() + 60)
    assert third is not None
    assert third.checkpoint.attempts == 1
    got = backend.checkpoints().get("cp")
    assert got is not None
    assert (got.attempts, got.lost_claims(time.time())) == (1, 1)  # its claim holds: no loss


def test_a_claim_its_holder_lets_lapse_is_listed_and_counted(backend: Backend) -> None:
    store = backend.checkpoints()
    store.put("cp", b"{}", format_version=1)
    claim = store.claim("cp", until=time.time() + 60)
    assert claim is not None
    assert store.lapsed(10) == []
    assert store.renew("cp", claim.token, until=time.time())  # its drive raised
    assert store.lapsed(10) == ["cp"]
    got = store.get("cp")
    assert got is not None
    assert (got.attempts, got.lost_claims(time.time() + 1)) == (0, 1)
    again = store.claim("cp", until=time.time() + 60)
    assert again is not None
    assert again.checkpoint.attempts == 1


# -- backoff: a resume that raised is not due again at once (issue 16, item 3) --------------


def test_a_deferred_checkpoint_is_not_listed_until_due_and_its_claim_clears_it(
    backend: Backend,
) -> None:
    store = backend.checkpoints()
    store.put("cp", b"{}", format_version=1)
    store.put("cp_other", b"{}", format_version=1)
    for name in ("cp", "cp_other"):
        claim = store.claim(name, until=time.time() + 60)
        assert claim is not None
        assert store.renew(name, claim.token, until=time.time())  # its resume raised
    assert store.lapsed(10) == ["cp", "cp_other"]
    assert store.defer("cp", until=time.time() + 0.3)
    assert store.defer("cp_missing", until=time.time() + 0.3) is False
    assert store.lapsed(10) == ["cp_other"]
    got = store.get("cp")
    assert got is not None
    assert got.next_attempt_at is not None
    assert 0 < got.next_attempt_at - time.time() <= 0.3
    assert not got.due(time.time())
    time.sleep(0.45)
    assert store.lapsed(10) == ["cp", "cp_other"]
    again = store.claim("cp", until=time.time() + 60)  # the attempt that was due
    assert again is not None
    assert again.checkpoint.next_attempt_at is None
    fresh = backend.checkpoints().get("cp")
    assert fresh is not None
    assert (fresh.next_attempt_at, fresh.attempts) == (None, 1)


def test_a_version_1_sqlite_checkpoint_file_is_upgraded_in_place(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "runs.db"
    SQLiteCheckpointStore(path).close()
    with sqlite3.connect(path) as db:  # back to version 1's layout, one row in it
        db.execute("DROP TABLE mm_checkpoints")
        db.execute(
            "CREATE TABLE mm_checkpoints (checkpoint_id TEXT PRIMARY KEY, record BLOB NOT NULL,"
            " format_version INTEGER NOT NULL, updated_at REAL NOT NULL,"
            " fence INTEGER NOT NULL DEFAULT 0, claimed_until REAL)"
        )
        db.execute("INSERT INTO mm_checkpoints VALUES ('cp', x'7b7d', 1, 1.0, 3, 2.0)")
        db.execute("UPDATE mm_schema_versions SET version = 1 WHERE store = 'checkpoints'")
    db.close()
    store = SQLiteCheckpointStore(path)
    try:
        got = store.get("cp")
        assert got is not None
        assert (got.fence, got.attempts, got.next_attempt_at) == (3, 0, None)
        claim = store.claim("cp", until=time.time() + 60)  # took over the lapsed claim
        assert claim is not None
        assert claim.checkpoint.attempts == 1
    finally:
        store.close()
