"""The route store's recovery contract (issue 16), on every backend: messages a claim took
stay stored until its run ends, a recovering take-over gives them back and counts an
attempt, a thread's work can end failed, and older databases upgrade in place."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psycopg
import pytest

from mm_assistants.state import InboundMessage, SQLiteRouteStore, backoff
from mm_assistants.state.postgres import PostgresRouteStore
from mm_assistants.state.postgres.schema import STEPS, VERSION_TABLE
from tests.state.conftest import Backend

LEASE = 0.05
LAPSE = 0.1  # longer than LEASE: the claim's worker is taken for dead


def message(email_id: str) -> InboundMessage:
    return InboundMessage(email_id=email_id, text=f"about {email_id}")


def emails(messages: list[InboundMessage] | None) -> list[str]:
    assert messages is not None
    return [m.email_id for m in messages]


def test_a_recovering_claim_gets_a_dead_workers_messages_back_and_counts_it(
    backend: Backend,
) -> None:
    store = backend.routes(lease=LEASE)
    store.enqueue("k1", "thr_1", message("em_1"))
    first = store.claim("thr_1", recover=True)
    assert first is not None
    assert first.attempts == 0
    time.sleep(LAPSE)  # its worker died: the claim lapsed with em_1 taken
    assert store.stalled() == ["thr_1"]
    second = store.claim("thr_1", recover=True)
    assert second is not None
    assert emails(second) == ["em_1"]
    assert second.attempts == 1
    assert store.attempts("thr_1") == 1
    assert store.fail("thr_1", first.token, "stale") is False
    assert store.fail("thr_1", second.token, "2 workers lost") is True
    assert store.stalled() == []
    [failed] = store.failed()
    assert (failed.mm_thread, emails(list(failed.messages))) == ("thr_1", ["em_1"])
    assert failed.reason == "2 workers lost"
    assert "about em_1" not in repr(failed)  # a stranger's words stay out of logs


def test_what_an_admission_claimed_and_what_queued_behind_it_come_back_in_order(
    backend: Backend,
) -> None:
    store = backend.routes(lease=LEASE)
    assert store.admit("k1", "thr_1", message("em_1")) == "claimed"
    assert store.admit("k2", "thr_1", message("em_2")) == "queued"
    assert emails(store.finish("thr_1")) == ["em_2"]  # em_1's run ended: it is gone
    time.sleep(LAPSE)  # the worker died running em_2
    store.enqueue("k3", "thr_1", message("em_3"))
    assert store.stalled() == ["thr_1"]
    recovered = store.claim("thr_1", recover=True)
    assert emails(recovered) == ["em_2"]  # the lost run's batch, alone
    assert recovered is not None
    assert recovered.attempts == 1
    assert emails(store.finish("thr_1", token=recovered.token)) == ["em_3"]  # then the rest


def test_a_failed_thread_sets_aside_only_the_lost_batch_and_later_mail_runs(
    backend: Backend,
) -> None:
    # review 16 M7: mail that arrived while a poisoned message killed workers is not lost
    store = backend.routes(lease=LEASE)
    store.enqueue("k1", "thr_1", message("em_poison"))
    first = store.claim("thr_1", recover=True)
    assert emails(first) == ["em_poison"]
    time.sleep(LAPSE)  # its worker died
    store.enqueue("k2", "thr_1", message("em_later"))
    again = store.claim("thr_1", recover=True)
    assert again is not None
    assert (emails(again), again.attempts) == (["em_poison"], 1)
    assert store.fail("thr_1", again.token, "1 workers were lost on it")
    [failed] = store.failed()
    assert [m.email_id for m in failed.messages] == ["em_poison"]
    assert store.stalled() == ["thr_1"]  # the later mail waits, for a run of its own
    later = store.claim("thr_1", recover=True)
    assert later is not None
    assert (emails(later), later.attempts) == (["em_later"], 0)


def test_a_lapsed_admission_claim_alone_makes_the_thread_stalled(backend: Backend) -> None:
    store = backend.routes(lease=LEASE)
    store.admit("k1", "thr_1", message("em_1"))
    assert store.stalled() == []
    time.sleep(LAPSE)
    assert store.stalled() == ["thr_1"]  # nothing waits, but em_1 was taken by a dead claim
    assert emails(store.claim("thr_1", recover=True)) == ["em_1"]


def test_a_router_take_over_leaves_taken_messages_to_the_lapsed_holder(backend: Backend) -> None:
    store = backend.routes(lease=LEASE)
    assert store.admit("k1", "thr_1", message("em_1")) == "claimed"
    old = store.token("thr_1")
    assert old is not None
    time.sleep(LAPSE)
    taken_over = store.claim("thr_1")  # without recover: the holder may still be running
    assert taken_over is not None
    assert (emails(taken_over), taken_over.attempts) == ([], 0)
    assert store.finish("thr_1", token=taken_over.token) == []
    store.release("thr_1", [message("em_1")], token=old)  # the slow holder gives up
    assert store.stalled() == ["thr_1"]
    assert emails(store.claim("thr_1")) == ["em_1"]


def test_a_stale_release_after_a_recovering_take_over_queues_nothing_twice(
    backend: Backend,
) -> None:
    store = backend.routes(lease=LEASE)
    store.enqueue("k1", "thr_1", message("em_1"))
    store.enqueue("k2", "thr_1", message("em_2"))
    first = store.claim("thr_1", recover=True)
    assert first is not None
    time.sleep(LAPSE)
    second = store.claim("thr_1", recover=True)
    assert emails(second) == ["em_1", "em_2"]
    assert second is not None
    store.release("thr_1", list(first), token=first.token)  # the stalled first worker
    assert store.finish("thr_1", token=second.token) == []
    assert store.stalled() == []
    assert store.claim("thr_1") == []


def test_an_own_release_puts_back_exactly_what_it_gives(backend: Backend) -> None:
    store = backend.routes(lease=LEASE)
    store.enqueue("k1", "thr_1", message("em_1"))
    store.enqueue("k2", "thr_1", message("em_2"))
    mine = store.claim("thr_1", recover=True)
    assert mine is not None
    store.enqueue("k3", "thr_1", message("em_3"))
    store.release("thr_1", [message("em_2")], token=mine.token)  # em_1 was used up
    again = store.claim("thr_1", recover=True)
    assert emails(again) == ["em_2", "em_3"]
    assert again is not None
    assert again.attempts == 1  # its run raised: counted, so one that always raises ends


def test_finish_and_park_reset_the_attempts(backend: Backend) -> None:
    store = backend.routes(lease=LEASE)
    store.enqueue("k1", "thr_1", message("em_1"))
    store.claim("thr_1", recover=True)
    time.sleep(LAPSE)
    second = store.claim("thr_1", recover=True)
    assert second is not None
    assert store.attempts("thr_1") == 1
    assert store.finish("thr_1", token=second.token) == []
    assert store.attempts("thr_1") == 0
    store.enqueue("k2", "thr_1", message("em_2"))
    store.claim("thr_1", recover=True)
    time.sleep(LAPSE)
    third = store.claim("thr_1", recover=True)
    assert third is not None
    assert third.attempts == 1
    assert store.park("thr_1", third.token, "cp_1")
    assert store.attempts("thr_1") == 0
    assert store.stalled() == []  # the parked run's messages are in its checkpoint


def test_a_resume_whose_worker_died_is_unparked_again_never_claimed_beside(
    backend: Backend,
) -> None:
    store = backend.routes(lease=LEASE)
    claimed = store.admit("k1", "thr_1", message("em_1"))
    token = store.token("thr_1")
    assert claimed == "claimed"
    assert token is not None
    assert store.park("thr_1", token, "cp_1")
    store.enqueue("k2", "thr_1", message("em_2"))
    resumed = store.unpark("thr_1", "cp_1")
    assert resumed is not None
    assert emails(resumed[1]) == ["em_2"]
    assert store.parked("thr_1") is None  # resuming, alive
    time.sleep(LAPSE)  # the resumer died
    assert store.parked("thr_1") == "cp_1"
    assert store.claim("thr_1", recover=True) is None  # never a run beside a checkpoint
    again = store.unpark("thr_1", "cp_1")
    assert again is not None
    assert again[0] > resumed[0]
    assert emails(again[1]) == ["em_2"]
    assert store.attempts("thr_1") == 1
    assert store.unpark("thr_1", "cp_1") is None  # live again: once


def test_new_mail_for_a_failed_thread_runs_and_the_kept_mail_stays_listed(
    backend: Backend,
) -> None:
    store = backend.routes(lease=LEASE)
    for n in (1, 2):
        store.enqueue(f"k{n}", "thr_1", message(f"em_{n}"))
    claimed = store.claim("thr_1", recover=True)
    assert claimed is not None
    assert store.fail("thr_1", claimed.token, "3 workers were lost on it")
    assert (store.token("thr_1"), store.attempts("thr_1"), store.stalled()) == (None, 0, [])
    assert store.claim("thr_1") == []  # nothing loops
    assert store.finish("thr_1") == []
    store.enqueue("k3", "thr_1", message("em_3"))
    assert store.stalled() == ["thr_1"]
    assert emails(store.claim("thr_1", recover=True)) == ["em_3"]
    [failed] = store.failed()
    assert emails(list(failed.messages)) == ["em_1", "em_2"]
    store.enqueue("k4", "thr_2", message("em_4"))
    other = store.claim("thr_2")
    assert other is not None
    time.sleep(0.02)  # a later failure, on a coarse clock
    assert store.fail("thr_2", other.token, "lost")
    assert [f.mm_thread for f in store.failed()] == ["thr_1", "thr_2"]  # oldest first
    assert [f.mm_thread for f in store.failed(limit=1)] == ["thr_1"]


def test_a_version_2_sqlite_file_keeps_its_queue_and_claims(tmp_path: Path) -> None:
    path = tmp_path / "routes.db"
    with sqlite3.connect(path) as db:  # the layout of version 2
        db.execute(
            "CREATE TABLE mm_schema_versions (store TEXT PRIMARY KEY,"
            " version INTEGER NOT NULL, updated_at REAL NOT NULL)"
        )
        db.execute("INSERT INTO mm_schema_versions VALUES ('routes', 2, 1.0)")
        db.execute(
            "CREATE TABLE mm_route_claims (mm_thread TEXT PRIMARY KEY, claimed_at REAL NOT NULL,"
            " fence INTEGER NOT NULL DEFAULT 0, parked TEXT)"
        )
        db.execute(
            "CREATE TABLE mm_route_queue (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " mm_thread TEXT NOT NULL, position INTEGER NOT NULL, email_id TEXT NOT NULL,"
            " text TEXT NOT NULL, received_at REAL NOT NULL)"
        )
        db.execute("INSERT INTO mm_route_claims VALUES ('thr_old', 1.0, 5, NULL)")  # lapsed
        db.execute("INSERT INTO mm_route_queue VALUES (1, 'thr_old', 1, 'em_1', 'hi', 1.0)")
    store = SQLiteRouteStore(path, lease=LEASE)
    assert store.stalled() == ["thr_old"]
    claimed = store.claim("thr_old", recover=True)
    assert emails(claimed) == ["em_1"]
    assert claimed is not None
    assert claimed.attempts == 1  # its version-2 claim lapsed: a lost worker
    assert store.fail("thr_old", claimed.token, "lost")
    assert emails(list(store.failed()[0].messages)) == ["em_1"]
    store.close()
    with sqlite3.connect(path) as db:
        version = db.execute("SELECT version FROM mm_schema_versions WHERE store = 'routes'")
        assert version.fetchone() == (3,)


def test_a_version_1_postgres_database_is_upgraded_in_place(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # what issue 15 shipped
        conn.execute(
            f"CREATE TABLE {VERSION_TABLE} (id integer PRIMARY KEY CHECK (id = 1),"
            " version integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
        )
        for statement in STEPS[1]:
            conn.execute(statement)
        conn.execute(f"INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, 1)")
        conn.execute(
            "INSERT INTO mm_route_threads (mm_thread, fence, claimed_until, queued_at)"
            " VALUES ('thr_old', nextval('mm_fence'), now() + interval '1 hour', now())"
        )
        conn.execute(
            "INSERT INTO mm_route_queue (mm_thread, position, email_id, body, received_at)"
            " VALUES ('thr_old', 1, 'em_1', 'hi', 1.0)"
        )
    store = PostgresRouteStore(pg_dsn, lease=LEASE)
    try:
        assert store.token("thr_old") is not None  # its live claim survived the upgrade
        assert store.claim("thr_old") is None
        assert emails(store.finish("thr_old")) == ["em_1"]  # the holder runs what queued
        time.sleep(LAPSE)  # ... and dies
        recovered = store.claim("thr_old", recover=True)
        assert emails(recovered) == ["em_1"]
        assert recovered is not None
        assert recovered.attempts == 1
        assert store.fail("thr_old", recovered.token, "lost")
        assert emails(list(store.failed()[0].messages)) == ["em_1"]
    finally:
        store.close()
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone() == (max(STEPS),)


# -- backoff: a thread whose run raised is not due again at once (issue 16, item 3) --------

BASE = 0.3  # the backoff base under test: attempt 1 waits 0.3 s, attempt 2 waits 0.6 s


def test_a_released_thread_is_not_stalled_until_its_backoff_ran_out(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backoff, "BACKOFF_BASE", BASE)
    store = backend.routes(lease=30.0)
    store.enqueue("k1", "thr_1", message("em_1"))
    store.enqueue("k2", "thr_2", message("em_2"))
    mine = store.claim("thr_1", recover=True)
    assert mine is not None
    assert store.backing_off("thr_1") == 0.0
    store.release("thr_1", list(mine), token=mine.token)  # its run raised
    assert 0 < store.backing_off("thr_1") <= BASE
    assert store.stalled() == ["thr_2"]
    store.enqueue("k3", "thr_1", message("em_3"))  # new mail waits out the backoff too
    assert store.stalled() == ["thr_2"]
    time.sleep(BASE + 0.15)
    assert store.backing_off("thr_1") == 0.0
    assert store.stalled() == ["thr_2", "thr_1"]
    again = store.claim("thr_1", recover=True)
    assert again is not None
    assert emails(again) == ["em_1", "em_3"]
    store.release("thr_1", list(again), token=again.token)  # raised again: twice the wait
    assert BASE < store.backing_off("thr_1") <= 2 * BASE
    time.sleep(BASE + 0.15)
    assert store.stalled() == ["thr_2"]
    # the backoff is the holder's: a release without a token (a router giving back
    # messages it never ran) and a stale token's release set none
    other = backend.routes(lease=30.0)
    taken = other.claim("thr_2")
    assert taken is not None
    other.release("thr_2", list(taken))
    assert other.backing_off("thr_2") == 0.0
    assert "thr_2" in other.stalled()


def test_a_finish_a_park_or_a_failure_clears_the_backoff(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backoff, "BACKOFF_BASE", 60.0)
    store = backend.routes(lease=30.0)
    for thread in ("thr_f", "thr_p", "thr_x"):
        store.enqueue(f"k_{thread}", thread, message(f"em_{thread}"))
        first = store.claim(thread, recover=True)
        assert first is not None
        store.release(thread, list(first), token=first.token)
        assert store.backing_off(thread) > 50
    # claim does not wait for the backoff (its callers do): an operator, or `fail`, may
    done = store.claim("thr_f", recover=True)
    assert done is not None
    assert store.finish("thr_f", token=done.token) == []
    park = store.claim("thr_p", recover=True)
    assert park is not None
    assert store.park("thr_p", park.token, "ckpt_p")
    ended = store.claim("thr_x", recover=True)
    assert ended is not None
    assert store.fail("thr_x", ended.token, "2 workers were lost on it")
    for thread in ("thr_f", "thr_p", "thr_x"):
        assert store.backing_off(thread) == 0.0
    store.enqueue("k_new", "thr_x", message("em_new"))  # a failed thread's new mail runs now
    assert "thr_x" in store.stalled()


def test_the_backoff_of_a_postgres_thread_is_on_the_database_clock(pg_dsn: str) -> None:
    store = PostgresRouteStore(pg_dsn, lease=30.0)
    try:
        store.enqueue("k1", "thr_1", message("em_1"))
        mine = store.claim("thr_1", recover=True)
        assert mine is not None
        store.release("thr_1", list(mine), token=mine.token)
        with psycopg.connect(pg_dsn) as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM next_attempt_at - now()) FROM mm_route_threads"
                " WHERE mm_thread = 'thr_1'"
            ).fetchone()
        assert row is not None
        assert 4.0 < float(row[0]) <= 5.0  # attempt 1: the default 5 s
    finally:
        store.close()
