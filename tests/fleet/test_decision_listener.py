"""Approvals that wake across processes on a real PostgreSQL (tests/pgcluster.py).

Two hubs on two `PostgresDecisionStore`s, in one process and in two (``spawn``): a decision
published by one wakes the other's wait (the latency is printed, not asserted). A listener
whose connection is cut while a decision is published still delivers it after reconnecting,
and so does one whose path went silent (its liveness probe finds out);
hostile NOTIFY payloads are dropped without killing the listener; the DSN's password is in
no log record, repr or error.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from mm_assistants.approvals import ApprovalHub, DecisionNotShared
from mm_assistants.state.postgres import decisions as decisions_module
from mm_assistants.state.postgres.connection import PostgresDatabase, parse_dsn
from mm_assistants.state.postgres.decisions import PostgresDecisionStore, _Listener
from mm_assistants.state.postgres.schema import DECISION_CHANNEL
from tests.pgcluster import PASSWORD

BOUND = 20.0  # seconds a wake-up may take on a loaded machine; a failure waits this long
REJECTED = {"id": "em_1", "status": "rejected", "reason": "wrong recipient"}


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    """Hubs and databases the test opened, closed at its end."""
    opened: list[Any] = []
    yield opened
    for thing in reversed(opened):
        thing.close()


def hub_on(dsn: str, closing: list[Any]) -> tuple[ApprovalHub, PostgresDecisionStore]:
    store = PostgresDecisionStore(dsn)
    hub = ApprovalHub(store)
    closing.extend([store.database, hub])
    return hub, store


def listener_pids(conn: Any, dbname: str | None = None) -> list[int]:
    """The backends LISTENing on the database (``dbname``, or the one ``conn`` is on)."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = coalesce(%s, current_database())"
        " AND query ILIKE 'LISTEN%%' AND pid <> pg_backend_pid()",
        (dbname,),
    ).fetchall()
    return [int(row[0]) for row in rows]


def wait_until(predicate: Any, what: str, timeout: float = BOUND) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting until {what}"
        time.sleep(0.02)


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[measured] {line}")


def test_a_decision_published_by_one_hub_wakes_a_wait_on_another_store(
    pg_dsn: str, closing: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    web, _ = hub_on(pg_dsn, closing)
    worker, _ = hub_on(pg_dsn, closing)
    web.current("warm-up")  # the schema check and the pool's first connection, done once
    latencies = []
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        worker.start()
        wait_until(lambda: len(listener_pids(admin)) == 1, "the worker listens")
        for n in range(20):
            email_id = f"em_{n}"
            with worker.subscribe(email_id) as wait:
                time.sleep(0.01)  # let the subscription's own read of the table pass
                started = time.perf_counter()
                web.publish(email_id, {**REJECTED, "id": email_id})
                assert wait.wait(BOUND) == {**REJECTED, "id": email_id}
                latencies.append(time.perf_counter() - started)
    latencies.sort()
    report(
        capsys,
        "publish -> wait woken, two stores in one process, 20 decisions:"
        f" p50 {latencies[10] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms",
    )


def wait_in_another_process(dsn: str, email_ids: list[str], results: Any) -> None:
    """Run by a ``spawn``ed process: a hub of its own waits for each of ``email_ids`` in
    turn and reports when each decision arrived."""
    store = PostgresDecisionStore(dsn)
    hub = ApprovalHub(store)
    try:
        for email_id in email_ids:
            with hub.subscribe(email_id) as wait:
                time.sleep(0.01)  # let the subscription's own read of the table pass
                results.put(("subscribed", email_id))
                decision = wait.wait(BOUND)
                results.put(("decided", dict(decision or {}), time.monotonic()))
    finally:
        hub.close()
        store.database.close()


def test_a_decision_published_here_wakes_a_wait_in_another_process(
    pg_dsn: str, closing: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    web, _ = hub_on(pg_dsn, closing)
    web.current("warm-up")  # the schema check and the pool's first connection, done once
    email_ids = [f"em_{n}" for n in range(10)]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=wait_in_another_process, args=(pg_dsn, email_ids, results))
    child.start()
    latencies = []
    try:
        for n, email_id in enumerate(email_ids):
            assert results.get(timeout=60) == ("subscribed", email_id)
            if n == 0:
                with psycopg.connect(pg_dsn, autocommit=True) as admin:
                    wait_until(lambda: len(listener_pids(admin)) == 1, "the child listens")
            started = time.monotonic()  # CLOCK_MONOTONIC: one clock for the host's processes
            web.publish(email_id, {**REJECTED, "id": email_id})
            kind, decision, woken_at = results.get(timeout=BOUND)
            assert (kind, decision) == ("decided", {**REJECTED, "id": email_id})
            latencies.append(woken_at - started)
        child.join(timeout=BOUND)
        assert child.exitcode == 0
    finally:
        if child.is_alive():
            child.kill()
            child.join(timeout=10)
        results.close()
        results.join_thread()
    latencies.sort()
    report(
        capsys,
        "publish -> wait woken in another process, 10 decisions:"
        f" p50 {latencies[5] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms",
    )


def test_a_decision_published_while_the_listener_is_cut_off_arrives_after_it_reconnects(
    pg_dsn: str,
    closing: list[Any],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dbname = parse_dsn(pg_dsn)["dbname"]
    publisher = PostgresDecisionStore(PostgresDatabase(pg_dsn))
    closing.append(publisher.database)
    publisher.get_many(["warm-up"])  # its pooled connection is open before the cut
    worker, _ = hub_on(pg_dsn, closing)
    caplog.set_level(logging.DEBUG)
    # a database's own sessions may not disallow connections to it: administer from another
    elsewhere = pg_dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(elsewhere, autocommit=True) as admin, worker.subscribe("em_1") as wait:
        wait_until(lambda: len(listener_pids(admin, dbname)) == 1, "the worker listens")
        (listener,) = listener_pids(admin, dbname)
        # keep the listener out while the decision is published: no new connection may open
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        try:
            admin.execute("SELECT pg_terminate_backend(%s)", (listener,))
            wait_until(lambda: listener_pids(admin, dbname) == [], "the listener is gone")
            publisher.record("em_1", REJECTED)  # the bell rings for nobody
            assert wait.wait(0.5) is None
        finally:
            admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        started = time.perf_counter()
        assert wait.wait(BOUND) == REJECTED
        latency = time.perf_counter() - started
        assert listener_pids(admin, dbname) != [listener]  # heard by a new LISTEN connection
    assert "decision listener lost" in caplog.text
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in repr(record.args) for record in caplog.records)
    report(capsys, f"connections allowed again -> decision delivered: {latency * 1000:.0f} ms")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("x" * 7999, id="huge"),
        pytest.param("em_1\x07\x1b[2J", id="control-chars"),
        pytest.param("em 1; DROP TABLE mm_decisions", id="not-an-id"),
        pytest.param("", id="empty"),
        pytest.param("é" * 10, id="non-ascii"),
    ],
)
def test_a_hostile_notification_is_ignored_and_the_listener_lives_on(
    pg_dsn: str, closing: list[Any], caplog: pytest.LogCaptureFixture, payload: str
) -> None:
    worker, store = hub_on(pg_dsn, closing)
    caplog.set_level(logging.DEBUG)
    with psycopg.connect(pg_dsn, autocommit=True) as admin, worker.subscribe("em_1") as wait:
        wait_until(lambda: len(listener_pids(admin)) == 1, "the worker listens")
        listener = _Listener._running[(pg_dsn, DECISION_CHANNEL)]
        admin.execute("SELECT pg_notify(%s, %s)", (DECISION_CHANNEL, payload))
        wait_until(lambda: listener.ignored == 1, "the payload was dropped")
        store.record("em_1", REJECTED)
        assert wait.wait(BOUND) == REJECTED  # still listening, same connection
        assert listener.connections == 1
    assert "ignored a payload that is no email id" in caplog.text
    if payload:
        assert payload not in caplog.text


def test_closing_the_hub_ends_the_listener_thread_and_its_connection(
    pg_dsn: str, closing: list[Any]
) -> None:
    hub, _ = hub_on(pg_dsn, closing)
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        hub.start()
        wait_until(lambda: len(listener_pids(admin)) == 1, "the hub listens")
        started = time.monotonic()
        hub.close()
        assert time.monotonic() - started < 5
        wait_until(lambda: listener_pids(admin) == [], "the LISTEN connection is closed")
    assert not [t for t in threading.enumerate() if t.name.startswith("mm-assistants listener")]


def test_many_hubs_in_one_process_share_one_listen_connection(
    pg_dsn: str, closing: list[Any]
) -> None:
    hubs = [hub_on(pg_dsn, closing)[0] for _ in range(3)]
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        waits = [hub.subscribe("em_1") for hub in hubs]
        wait_until(lambda: len(listener_pids(admin)) == 1, "one listener")
        time.sleep(0.3)
        assert len(listener_pids(admin)) == 1
        hubs[0].publish("em_1", REJECTED)
        assert [wait.wait(BOUND) for wait in waits] == [REJECTED] * 3


def test_no_repr_or_error_shows_the_password(
    pg_dsn: str, closing: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    hub, store = hub_on(pg_dsn, closing)
    listen_store = PostgresDecisionStore(pg_dsn, listen_dsn=pg_dsn)
    closing.append(listen_store.database)
    for text in (repr(hub), repr(store), repr(listen_store), repr(store.database)):
        assert PASSWORD not in text
    port = parse_dsn(pg_dsn)["port"]
    down = pg_dsn.replace(f":{port}/", ":1/")  # nothing listens on port 1
    caplog.set_level(logging.DEBUG)
    broken = ApprovalHub(PostgresDecisionStore(PostgresDatabase(down, connect_timeout=1)))
    closing.append(broken)
    with broken.subscribe("em_1") as wait, pytest.raises(DecisionNotShared) as raised:
        broken.publish("em_1", REJECTED)
    assert wait.decision == REJECTED  # the local wait was woken all the same
    chain: list[BaseException] = []
    error: BaseException | None = raised.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert len(chain) >= 2
    assert all(PASSWORD not in f"{e!s} {e!r}" for e in chain)
    assert PASSWORD not in caplog.text


def test_a_bad_channel_is_refused() -> None:
    for channel in ("", "Upper", "with space", "x" * 64, "semi;colon"):
        with pytest.raises(ValueError, match="channel"):
            PostgresDecisionStore("postgresql://u@127.0.0.1:1/db", channel=channel)


def wait_in_a_forked_child(hub: ApprovalHub, email_id: str, results: Any) -> None:
    """Run in a child ``fork``ed from a process whose hub already listens."""
    try:
        with hub.subscribe(email_id) as wait:
            results.put(("subscribed", os.getpid()))
            results.put(("decided", dict(wait.wait(BOUND) or {})))
    finally:
        hub.close()


def test_a_forked_child_listens_on_its_own_connection_and_leaves_the_parents_alone(
    pg_dsn: str, closing: list[Any]
) -> None:
    hub, _ = hub_on(pg_dsn, closing)
    publisher, _ = hub_on(pg_dsn, closing)
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        hub.start()
        wait_until(lambda: len(listener_pids(admin)) == 1, "the parent listens")
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        child = context.Process(target=wait_in_a_forked_child, args=(hub, "em_1", results))
        child.start()
        try:
            assert results.get(timeout=BOUND)[0] == "subscribed"
            wait_until(lambda: len(listener_pids(admin)) == 2, "the child listens on its own")
            publisher.publish("em_1", REJECTED)
            assert results.get(timeout=BOUND) == ("decided", REJECTED)
            child.join(timeout=BOUND)
            assert child.exitcode == 0
        finally:
            if child.is_alive():
                child.kill()
                child.join(timeout=10)
            results.close()
            results.join_thread()
        wait_until(lambda: len(listener_pids(admin)) == 1, "the child's listener is gone")
        with hub.subscribe("em_2") as wait:  # the parent's connection survived the child
            publisher.publish("em_2", {**REJECTED, "id": "em_2"})
            assert wait.wait(BOUND) == {**REJECTED, "id": "em_2"}


class SilencingProxy:
    """A TCP proxy on loopback to ``port`` whose `silence` makes the connections open now
    swallow every byte both ways while their sockets stay open: a NAT or load balancer
    that forgot them. Connections opened afterwards are forwarded again."""

    def __init__(self, port: int) -> None:
        self._target = port
        self._closed = threading.Event()
        self._silenced: list[threading.Event] = []
        self._sockets: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def silence(self) -> None:
        for silenced in list(self._silenced):
            silenced.set()

    def close(self) -> None:
        self._closed.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        for sock in [self._server, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            server = socket.create_connection(("127.0.0.1", self._target), timeout=5)
            silenced = threading.Event()
            self._silenced.append(silenced)
            for a, b in ((client, server), (server, client)):
                a.settimeout(0.1)
                self._sockets.append(a)
                thread = threading.Thread(target=self._pipe, args=(a, b, silenced), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pipe(self, a: socket.socket, b: socket.socket, silenced: threading.Event) -> None:
        while not self._closed.is_set():
            try:
                data = a.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            if not silenced.is_set():  # once silenced, read and drop: the peer sees no error
                b.sendall(data)


def test_a_listener_on_a_path_that_went_silent_reconnects_and_hears_again(
    pg_dsn: str, closing: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decisions_module, "PROBE_SECONDS", 0.5)
    monkeypatch.setattr(decisions_module, "PROBE_TIMEOUT", 1.0)
    port = parse_dsn(pg_dsn)["port"]
    proxy = SilencingProxy(int(port))
    closing.append(proxy)
    listen_dsn = pg_dsn.replace(f":{port}/", f":{proxy.port}/")
    writer = PostgresDecisionStore(pg_dsn)
    reader = PostgresDecisionStore(pg_dsn, listen_dsn=listen_dsn)
    hub = ApprovalHub(reader, check_interval=None)  # only the bell and reconnects wake it
    closing.extend([writer.database, reader.database, hub])
    with hub.subscribe("em_1") as wait:
        listener = _Listener._running[(listen_dsn, DECISION_CHANNEL)]
        wait_until(lambda: listener.connections == 1, "the reader listens")
        proxy.silence()
        writer.record("em_1", REJECTED)  # its bell is swallowed by the silent path
        started = time.monotonic()
        # the bell was swallowed: the decision comes from a read of the table (after the
        # probe failed and the listener reconnected, or, on a slow machine, from the read
        # that follows the subscription itself), never from the silent path
        assert wait.wait(BOUND) == REJECTED
        assert time.monotonic() - started < BOUND
        # whichever read brought it, the silent path is noticed and replaced
        wait_until(lambda: listener.connections == 2, "the listener reconnected")
        with hub.subscribe("em_2") as later:
            writer.record("em_2", {**REJECTED, "id": "em_2"})
            assert later.wait(BOUND) == {**REJECTED, "id": "em_2"}


def test_a_quiet_listener_stays_connected_and_keeps_its_tcp_keepalives(
    pg_dsn: str, closing: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decisions_module, "PROBE_SECONDS", 0.1)
    hub, store = hub_on(pg_dsn, closing)
    with hub.subscribe("em_1") as wait:
        listener = _Listener._running[(pg_dsn, DECISION_CHANNEL)]
        wait_until(lambda: listener.probes >= 3, "the listener probed its quiet connection")
        assert listener.connections == 1  # an answered probe is no reason to reconnect
        conn = listener._conn
        assert conn is not None
        with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 30
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
        store.record("em_1", REJECTED)
        assert wait.wait(BOUND) == REJECTED
