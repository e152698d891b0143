"""What only the PostgreSQL backend promises: the database's clock, a fleet of processes,
schema versions, its own pool per process, and a DSN that never leaks."""

from __future__ import annotations

import logging
import multiprocessing
import queue
import time

import psycopg
import pytest

from mm_assistants.state import InboundMessage, PendingRecord
from mm_assistants.state.postgres import (
    PostgresCheckpointStore,
    PostgresDatabase,
    PostgresPendingStore,
    PostgresRouteStore,
    PostgresSeenStore,
    PostgresState,
    SchemaTooNew,
)
from mm_assistants.state.postgres.connection import describe_dsn
from mm_assistants.state.postgres.decisions import PostgresDecisionStore
from tests.pgcluster import PASSWORD, PostgresCluster, free_port
from tests.state import pg_workers

THREADS = 60


def message(email_id: str) -> InboundMessage:
    return InboundMessage(email_id, f"about {email_id}")


def shift_host_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


@pytest.mark.parametrize(
    "skew", [pytest.param(3600.0, id="ahead"), pytest.param(-3600.0, id="behind")]
)
def test_a_live_claim_holds_whatever_the_hosts_clock_says(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, skew: float
) -> None:
    state = PostgresState(pg_dsn, lease=60)
    state.pending.add(PendingRecord("em_1", "mbx_1", "c1", "send_email"))
    state.checkpoints.put("run_1", b"{}", format_version=1)
    assert state.pending.claim("em_1", "first@elsewhere:1", until=time.time() + 60) is not None
    assert state.checkpoints.claim("run_1", until=time.time() + 60) is not None
    assert state.routes.admit("k1", "thr_1", message("em_1")) == "claimed"
    token = state.routes.token("thr_1")

    shift_host_clock(monkeypatch, skew)  # another host, whose clock is an hour off
    other = PostgresState(pg_dsn, lease=60)
    assert other.pending.claim("em_1", "second@elsewhere:2", until=time.time() + 60) is None
    assert other.checkpoints.claim("run_1", until=time.time() + 60) is None
    assert other.routes.token("thr_1") == token
    assert other.routes.admit("k2", "thr_1", message("em_2")) == "queued"
    assert other.routes.stalled() == []
    other.close()
    state.close()


@pytest.mark.parametrize(
    "skew", [pytest.param(3600.0, id="ahead"), pytest.param(-3600.0, id="behind")]
)
def test_a_lapsed_claim_is_taken_whatever_the_hosts_clock_says(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch, skew: float
) -> None:
    state = PostgresState(pg_dsn, lease=0.2)
    state.pending.add(PendingRecord("em_1", "mbx_1", "c1", "send_email"))
    state.checkpoints.put("run_1", b"{}", format_version=1)
    assert state.pending.claim("em_1", "first@elsewhere:1", until=time.time() + 0.2)
    assert state.checkpoints.claim("run_1", until=time.time() + 0.2)
    state.routes.admit("k1", "thr_1", message("em_1"))
    state.routes.admit("k2", "thr_1", message("em_2"))
    time.sleep(0.4)  # every lease is over on the database's clock

    shift_host_clock(monkeypatch, skew)
    other = PostgresState(pg_dsn, lease=0.2)
    assert other.pending.claim("em_1", "second@elsewhere:2", until=time.time() + 60) is not None
    assert other.checkpoints.claim("run_1", until=time.time() + 60) is not None
    assert other.routes.stalled() == ["thr_1"]
    assert [m.email_id for m in other.routes.claim("thr_1") or []] == ["em_2"]
    other.close()
    state.close()


def test_two_processes_admitting_the_same_new_threads_claim_each_once(pg_dsn: str) -> None:
    PostgresDatabase(pg_dsn).ensure_schema()
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    processes = [
        context.Process(target=pg_workers.admit_all, args=(pg_dsn, name, THREADS, barrier, results))
        for name in ("a", "b")
    ]
    for process in processes:
        process.start()
    try:
        reports = dict(results.get(timeout=120) for _ in processes)
    except queue.Empty:
        pytest.fail("an admitting process did not report within 120 s")
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
    assert [process.exitcode for process in processes] == [0, 0]
    for n in range(THREADS):
        outcomes = sorted(report[f"thr_{n}"] for report in reports.values())
        assert outcomes == ["claimed", "queued"], n  # waited for, never both claimed
    store = PostgresRouteStore(pg_dsn)
    assert sum(len(store.finish(f"thr_{n}")) for n in range(THREADS)) == THREADS
    store.close()


def test_a_database_from_a_newer_release_is_refused_with_what_to_do(pg_dsn: str) -> None:
    PostgresDatabase(pg_dsn).ensure_schema()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE mm_schema_version SET version = 99")
    store = PostgresPendingStore(pg_dsn)
    with pytest.raises(SchemaTooNew, match=r"version 99.*upgrade mm-assistants"):
        store.all()
    store.close()


def test_a_forked_child_opens_its_own_pool(pg_dsn: str) -> None:
    db = PostgresDatabase(pg_dsn)
    with db.connection() as conn:
        parent_backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=pg_workers.backend_pid, args=(db, results))
    child.start()
    try:
        child_pid, child_backend = results.get(timeout=60)
    finally:
        child.join(30)
        if child.is_alive():
            child.terminate()
    assert child.exitcode == 0
    assert child_pid != multiprocessing.current_process().pid
    assert child_backend != parent_backend  # a connection never crosses the fork
    with db.connection() as conn:  # the parent's pool survived the child's close
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == parent_backend
    db.close()


def test_stores_of_one_state_share_one_pool(pg_dsn: str) -> None:
    state = PostgresState(pg_dsn)
    stores = (state.pending, state.routes, state.seen, state.checkpoints)
    assert {id(store.database) for store in stores} == {id(state.database)}
    state.routes.admit("k1", "thr_1", message("em_1"))
    state.close()
    assert state.routes.token("thr_1") is not None  # reopened on the next use
    state.close()


def test_route_keys_are_kept_for_the_retention_only(pg_dsn: str) -> None:
    store = PostgresRouteStore(pg_dsn, seen_retention=0.3)
    assert store.admit("k1", "thr_1", message("em_1")) == "claimed"
    assert store.admit("k1", "thr_1", message("em_1")) == "duplicate"
    time.sleep(0.5)
    assert not store.seen("k1")
    assert store.admit("k1", "thr_1", message("em_1")) == "queued"  # new again, claim stays
    store.close()
    with pytest.raises(ValueError, match="seen_retention"):
        PostgresRouteStore(pg_dsn, seen_retention=0)


def test_transaction_pooling_mode_prepares_no_statements(pg_dsn: str) -> None:
    db = PostgresDatabase(pg_dsn, prepared_statements=False)
    with db.connection() as conn:
        assert conn.prepare_threshold is None
        for _ in range(8):  # more than psycopg's threshold of 5
            conn.execute("SELECT 1")
        assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
    db.close()
    prepared = PostgresDatabase(pg_dsn)
    with prepared.connection() as conn:
        assert conn.prepare_threshold == 5
    prepared.close()


def test_a_wrong_password_is_one_plain_error_without_the_dsn(
    pg_cluster: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = pg_cluster.dsn().replace(PASSWORD, "not-the-pw-4711")
    store = PostgresPendingStore(wrong)
    with caplog.at_level(logging.DEBUG), pytest.raises(ConnectionError) as raised:
        store.all()
    text = str(raised.value)
    assert "authentication failed" in text
    assert describe_dsn(wrong) in text
    assert "not-the-pw-4711" not in text
    assert wrong not in text
    assert raised.value.__cause__ is None  # libpq's own text is not chained along
    assert "not-the-pw-4711" not in caplog.text
    store.close()


def test_an_unreachable_server_is_one_plain_error_without_the_dsn() -> None:
    dsn = f"postgresql://app:{PASSWORD}@127.0.0.1:{free_port()}/app"
    db = PostgresDatabase(dsn, connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="unreachable") as raised, db.connection():
        pass
    assert time.monotonic() - started < 10
    assert PASSWORD not in str(raised.value)
    assert dsn not in str(raised.value)
    with pytest.raises(ConnectionError) as direct:
        db.connect()
    assert PASSWORD not in str(direct.value)


def test_no_repr_shows_the_password(pg_dsn: str) -> None:
    state = PostgresState(pg_dsn)
    shown = [
        state,
        state.database,
        state.pending,
        state.routes,
        state.seen,
        state.checkpoints,
        PostgresPendingStore(state.database),
        PostgresSeenStore(pg_dsn),
        PostgresCheckpointStore(pg_dsn),
    ]
    for thing in shown:
        assert PASSWORD not in repr(thing)
        assert "127.0.0.1" in repr(thing)
    state.close()


def test_a_bad_dsn_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="connection string") as raised:
        PostgresDatabase(f"postgresql://app:{PASSWORD}@[bad")
    assert PASSWORD not in str(raised.value)


def test_the_facade_builds_every_store_on_one_pool(pg_dsn: str) -> None:
    state = PostgresState(pg_dsn)
    try:
        stores = (state.pending, state.routes, state.seen, state.checkpoints)
        assert all(
            store.database is state.database for store in (*stores, state.decisions, state.checks)
        )
        state.decisions.record("em_1", {"status": "rejected", "reason": "no"})
        assert state.decisions.get_many(["em_1"])["em_1"]["status"] == "rejected"
        state.checks.watch(["mbx_1"], interval=5.0)
        assert [lease.mailbox_id for lease in state.checks.claim_due("me", lease=30, limit=5)] == [
            "mbx_1"
        ]
        assert "s3cret" not in repr(state)
    finally:
        state.close()


@pytest.mark.parametrize(
    "dsn",
    [
        "dbname='postgresql://app:TOPSECRET@db/app'",  # libpq's expand_dbname form
        "host=db dbname='host=db user=app password=TOPSECRET'",
        "host='app:TOPSECRET@db' dbname=app",
        "host=db dbname='TOPSECRET app'",
    ],
)
def test_a_password_inside_dbname_or_host_is_never_shown(dsn: str) -> None:
    db = PostgresDatabase(dsn)
    assert "TOPSECRET" not in repr(db)
    assert "TOPSECRET" not in describe_dsn(dsn)
    assert "TOPSECRET" not in repr(PostgresSeenStore(db))


def test_ordinary_hosts_and_databases_are_still_named() -> None:
    assert describe_dsn("postgresql://app:pw@db.internal:6432/app_prod") == (
        "db.internal:6432/app_prod"
    )
    assert describe_dsn("host=/var/run/postgresql dbname=app") == "/var/run/postgresql:5432/app"
    assert describe_dsn("host=h1,h2 port=5432,5433 dbname=app") == "h1,h2:5432,5433/app"


def test_pooled_connections_have_keepalives_and_a_statement_timeout(pg_dsn: str) -> None:
    db = PostgresDatabase(pg_dsn)
    try:
        with db.connection() as conn:
            params = conn.info.get_parameters()
            assert (params["keepalives"], params["keepalives_idle"]) == ("1", "30")
            assert (params["keepalives_interval"], params["keepalives_count"]) == ("10", "3")
            assert params["tcp_user_timeout"] == "60000"
            assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)
    finally:
        db.close()
    own = PostgresDatabase(pg_dsn + "?keepalives_idle=7&options=-c%20statement_timeout%3D1234")
    try:
        with own.connection() as conn:  # what the DSN says wins
            assert conn.info.get_parameters()["keepalives_idle"] == "7"
            assert conn.execute("SHOW statement_timeout").fetchone() == ("1234ms",)
    finally:
        own.close()


def test_a_statement_that_hangs_is_cancelled_by_the_statement_timeout(pg_dsn: str) -> None:
    db = PostgresDatabase(pg_dsn, statement_timeout=0.2)
    try:
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled), db.connection() as conn:
            conn.execute("SELECT pg_sleep(30)")
        assert time.monotonic() - started < 10
    finally:
        db.close()


def test_a_pooled_connection_that_died_while_idle_is_replaced_before_use(pg_dsn: str) -> None:
    db = PostgresDatabase(pg_dsn, pool_size=1)
    try:
        with db.connection() as conn:
            first = conn.info.backend_pid
        with psycopg.connect(pg_dsn, autocommit=True) as admin:  # a server restart, a dropped path
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        with db.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.info.backend_pid != first
    finally:
        db.close()


def test_decisions_older_than_the_retention_are_deleted_by_record(pg_dsn: str) -> None:
    store = PostgresDecisionStore(pg_dsn, retention=24 * 3600.0)
    try:
        for email_id in ("em_old", "em_recent"):
            store.record(email_id, {"id": email_id, "status": "rejected"})
        with store.database.connection() as conn:
            conn.execute(
                "UPDATE mm_decisions SET decided_at = now() - interval '2 days'"
                " WHERE email_id = 'em_old'"
            )
            conn.execute(
                "UPDATE mm_decisions SET decided_at = now() - interval '12 hours'"
                " WHERE email_id = 'em_recent'"
            )
        later = PostgresDecisionStore(store.database, retention=24 * 3600.0)
        later.record("em_new", {"id": "em_new", "status": "rejected"})  # a first record prunes
        assert sorted(later.get_many(["em_old", "em_recent", "em_new"])) == [
            "em_new",
            "em_recent",
        ]
        assert PostgresDecisionStore(pg_dsn).retention == 30 * 24 * 3600.0
        with pytest.raises(ValueError, match="retention"):
            PostgresDecisionStore(pg_dsn, retention=0)
    finally:
        store.database.close()
