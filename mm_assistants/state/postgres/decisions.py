"""`PostgresDecisionStore`: decisions in ``mm_decisions``, the doorbell on LISTEN/NOTIFY.

`PostgresDecisionStore.record` upserts the row and calls ``pg_notify(channel, email_id)``
in ONE transaction: PostgreSQL delivers the notification only when the row is committed,
so a process that hears the bell always finds the decision. The payload is the email id
and nothing else. The upsert keeps a row of higher ``rank`` (``ON CONFLICT ... WHERE``,
decided by the row lock, so two processes recording at once cannot both win with the
lower rank); a refused record rings nobody.

`PostgresDecisionStore.listen` shares ONE dedicated connection per process and channel
(`_Listener`): not from the pool (a pooled connection goes back to other users, and
PgBouncer's transaction pooling drops a LISTEN at the end of each transaction), in
autocommit, read by a daemon thread. When the connection fails the thread reconnects with
a bounded backoff and calls every ``reconnected()`` after each successful LISTEN, the
first one included: notifications sent while it was away are lost, and the callers re-read
what they wait for. A path that died silently (a NAT or load balancer that forgot the
connection, so nothing ever arrives and nothing fails) is noticed too: TCP keepalives
(`connection.session_parameters`), and a ``SELECT 1`` every `PROBE_SECONDS` without a
notification whose answer must come within `PROBE_TIMEOUT`, or the listener reconnects.
A child process after a fork opens its own listener: the parent's socket is never read or
closed by the child.

Anyone who can connect to the database can ``pg_notify`` on the channel: a payload that is
not a plausible email id (`mm_assistants.state.decisions.plausible_email_id`) is counted
and dropped, its content never logged.

Decisions are kept `DECISION_RETENTION` seconds (30 days) by default: waits and parked
runs last at most about 25 days, so an older row is read by nobody. `record` deletes the
older rows now and then (every `PRUNE_EVERY` records of a store).
"""

from __future__ import annotations

import logging
import os
import re
import selectors
import threading
import time
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from mm_assistants.state.decisions import (
    Listening,
    Reconnected,
    Ring,
    checked_email_id,
    checked_rank,
    encode_decision,
    plausible_email_id,
)
from mm_assistants.state.postgres.connection import (
    CONNECT_TIMEOUT,
    STATEMENT_TIMEOUT,
    PostgresDatabase,
    _psycopg,
    connect_parameters,
    database,
    describe_dsn,
    parse_dsn,
)
from mm_assistants.state.postgres.schema import DECISION_CHANNEL

logger = logging.getLogger("mm_assistants.state")

#: How long the listener thread waits for a notification before it looks whether it was
#: told to stop: `PostgresDecisionStore` listeners close within about this time.
POLL_SECONDS = 0.25
#: The first and the longest pause between two attempts to reconnect the listener.
RECONNECT_FIRST = 0.1
RECONNECT_MAX = 5.0
#: Seconds without a notification after which the listener asks the server ``SELECT 1``,
#: and the seconds its answer may take before the connection is taken for dead.
PROBE_SECONDS = 30.0
PROBE_TIMEOUT = 10.0
#: Seconds a decision is kept (30 days: longer than any wait or parked run).
DECISION_RETENTION = 30 * 24 * 3600.0
#: Records of one store between two deletions of decisions older than its retention.
PRUNE_EVERY = 256
_CHANNEL = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresDecisionStore:
    """A `DecisionStore` shared by every process on one PostgreSQL database.

    ``db`` is a DSN or a `PostgresDatabase` (to share its pool). ``listen_dsn`` is the DSN
    of the LISTEN connection when it must differ from the pool's: a deployment that pools
    everything through PgBouncer in transaction mode gives the database's direct address
    here. Example::

        store = PostgresDecisionStore(
            "postgresql://app@pgbouncer:6432/app",
            listen_dsn="postgresql://app@db.internal:5432/app",
        )
        hub = ApprovalHub(store)  # mm_assistants.approvals
    """

    def __init__(
        self,
        db: str | PostgresDatabase,
        *,
        listen_dsn: str | None = None,
        channel: str = DECISION_CHANNEL,
        retention: float = DECISION_RETENTION,
    ) -> None:
        if not isinstance(channel, str) or not _CHANNEL.fullmatch(channel):
            raise ValueError(
                "channel must be a lower-case PostgreSQL identifier (letters, digits, _)"
            )
        if isinstance(retention, bool) or not isinstance(retention, (int, float)):
            raise ValueError("retention is a number of seconds")
        if not retention > 0:
            raise ValueError("retention must be positive")
        #: Seconds a decision is kept; older ones are deleted now and then by `record`.
        self.retention = float(retention)
        self._records = 0
        self.database = database(db)
        if listen_dsn is not None:
            parse_dsn(listen_dsn)  # a bad DSN fails here, at construction
        self._listen_dsn = listen_dsn if listen_dsn is not None else self.database.dsn
        self.channel = channel

    def __repr__(self) -> str:
        return (
            f"PostgresDecisionStore({self.database.where!r},"
            f" listen={describe_dsn(self._listen_dsn)!r}, channel={self.channel!r})"
        )

    def record(self, email_id: str, data: Mapping[str, Any], *, rank: int = 0) -> bool:
        """Upsert the decision of ``email_id`` unless the row kept has a higher ``rank``,
        and ring the channel when it was written, in one transaction; whether it was."""
        checked_email_id(email_id)
        checked_rank(rank)
        encoded = encode_decision(data)
        with self.database.transaction() as conn:
            written = conn.execute(
                "INSERT INTO mm_decisions (email_id, record, rank)"
                " VALUES (%s, %s::jsonb, %s)"
                " ON CONFLICT (email_id) DO UPDATE SET record = excluded.record,"
                " rank = excluded.rank, decided_at = now()"
                " WHERE excluded.rank >= mm_decisions.rank",
                (email_id, encoded, rank),
            ).rowcount
            if written:
                conn.execute("SELECT pg_notify(%s, %s)", (self.channel, email_id))
        self._records += 1
        if self._records % PRUNE_EVERY == 1:
            self.prune()
        return bool(written)

    def prune(self) -> int:
        """Delete the decisions older than `retention` (by the database's clock); how many.
        A failure is logged, never raised: the decision itself is recorded already."""
        try:
            with self.database.connection() as conn:
                return int(
                    conn.execute(
                        "DELETE FROM mm_decisions"
                        " WHERE decided_at < now() - make_interval(secs => %s)",
                        (self.retention,),
                    ).rowcount
                )
        except Exception as error:  # noqa: BLE001 -- pruning is housekeeping; the next record retries
            logger.warning(
                "could not delete old decisions at %s (%s)",
                self.database.where, type(error).__name__,
            )  # fmt: skip
            return 0

    def get_many(self, email_ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        """The decisions kept for those of ``email_ids`` that have one."""
        wanted = sorted({key for key in email_ids if plausible_email_id(key)})
        if not wanted:
            return {}
        self.database.ensure_schema()
        with self.database.connection() as conn:
            rows = conn.execute(
                "SELECT email_id, record FROM mm_decisions WHERE email_id = ANY(%s)",
                (wanted,),
            ).fetchall()
        return {str(key): record for key, record in rows if isinstance(record, dict)}

    def listen(self, ring: Ring, reconnected: Reconnected) -> Listening:
        """Call ``ring(email_id)`` for each decision any process records from now on, and
        ``reconnected()`` after each (re)connection of this process's listener. Both run
        on the listener's thread: keep them short."""
        return _Listener.join(self._listen_dsn, self.channel, (ring, reconnected))


class _Subscriber:
    """One `listen` call's handle on the shared listener."""

    def __init__(self, listener: _Listener, callbacks: tuple[Ring, Reconnected]) -> None:
        self._listener = listener
        self.callbacks = callbacks

    def close(self) -> None:
        self._listener.leave(self)


class _Listener:
    """The one LISTEN connection of this process for one DSN and channel, and its thread."""

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _running: ClassVar[dict[tuple[str, str], _Listener]] = {}

    def __init__(self, dsn: str, channel: str) -> None:
        self._dsn = dsn
        self.where = describe_dsn(dsn)
        self.channel = channel
        self.pid = os.getpid()
        self.subscribers: list[_Subscriber] = []
        self.ignored = 0  # payloads dropped as no email id
        self.connections = 0  # successful LISTENs so far
        self.probes = 0  # liveness probes answered so far
        self._conn: Any = None  # the connection being read (for tests: its socket options)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"mm-assistants listener {self.where}", daemon=True
        )

    def __repr__(self) -> str:
        return f"_Listener({self.where!r}, channel={self.channel!r})"

    @classmethod
    def join(cls, dsn: str, channel: str, callbacks: tuple[Ring, Reconnected]) -> _Subscriber:
        with cls._lock:
            listener = cls._running.get((dsn, channel))
            if listener is None or listener.pid != os.getpid():
                # a listener inherited through a fork has no thread here and shares its
                # socket with the parent: leave it alone and open this process's own
                listener = cls(dsn, channel)
                cls._running[(dsn, channel)] = listener
                listener._thread.start()
            subscriber = _Subscriber(listener, callbacks)
            listener.subscribers.append(subscriber)
            connected = listener.connections > 0
        if connected:
            # joined a listener that already listens: this caller has missed nothing yet,
            # but is told it is connected, as the protocol promises
            _call(callbacks[1])
        return subscriber

    def leave(self, subscriber: _Subscriber) -> None:
        with self._lock:
            if subscriber in self.subscribers:
                self.subscribers.remove(subscriber)
            last = not self.subscribers and self.pid == os.getpid()
            if last and self._running.get((self._dsn, self.channel)) is self:
                del self._running[(self._dsn, self.channel)]
        if last:
            self._stop.set()
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=POLL_SECONDS + CONNECT_TIMEOUT + 1)

    def _callbacks(self) -> list[tuple[Ring, Reconnected]]:
        with self._lock:
            return [subscriber.callbacks for subscriber in self.subscribers]

    def _run(self) -> None:
        psycopg = _psycopg()
        delay = RECONNECT_FIRST
        while not self._stop.is_set():
            try:
                conn = psycopg.connect(
                    self._dsn,
                    autocommit=True,
                    connect_timeout=int(CONNECT_TIMEOUT),
                    **connect_parameters(self._dsn, statement_timeout=STATEMENT_TIMEOUT),
                )
            except psycopg.Error as error:
                logger.warning(
                    "decision listener cannot connect to %s (%s); retrying in %.1f s",
                    self.where, type(error).__name__, delay,
                )  # fmt: skip
                self._stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            self._conn = conn
            try:
                self._listen(conn)
                delay = RECONNECT_FIRST
                self._read(conn)
            except Exception as error:  # noqa: BLE001 -- whatever broke the connection, listen again
                if not self._stop.is_set():
                    logger.warning(
                        "decision listener lost %s (%s); reconnecting",
                        self.where, type(error).__name__,
                    )  # fmt: skip
                    self._stop.wait(delay)
                    delay = min(delay * 2, RECONNECT_MAX)
            finally:
                self._conn = None
                conn.close()

    def _listen(self, conn: Any) -> None:
        from psycopg import sql

        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        with self._lock:
            self.connections += 1
        for _, reconnected in self._callbacks():
            _call(reconnected)

    def _read(self, conn: Any) -> None:
        heard = time.monotonic()  # the last sign of life of the connection
        while not self._stop.is_set():
            for notify in conn.notifies(timeout=POLL_SECONDS):
                heard = time.monotonic()
                self._deliver(notify.channel, notify.payload)
                if self._stop.is_set():
                    return
            if time.monotonic() - heard >= PROBE_SECONDS:
                # silence may be a quiet fleet or a dead path: only an answer tells
                for channel, payload in probe(conn, PROBE_TIMEOUT):
                    self._deliver(channel, payload)
                self.probes += 1
                heard = time.monotonic()

    def _deliver(self, channel: str, payload: str) -> None:
        if channel != self.channel or not plausible_email_id(payload):
            self.ignored += 1
            logger.debug(
                "decision listener ignored a payload that is no email id (%d chars)",
                len(payload),
            )
            return
        for ring, _ in self._callbacks():
            _call(ring, payload)


def probe(conn: Any, timeout: float) -> list[tuple[str, str]]:
    """Run ``SELECT 1`` on the LISTEN connection ``conn`` and wait at most ``timeout``
    seconds for its answer (psycopg's own calls would wait forever on a dead path); a
    `TimeoutError` or a psycopg error when it does not come. Returns the notifications
    (channel, payload) that arrived meanwhile, which psycopg's reader would not see."""
    psycopg = _psycopg()
    pgconn = conn.pgconn
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(pgconn.socket, selectors.EVENT_READ | selectors.EVENT_WRITE)

        def wait(events: int) -> None:
            selector.modify(pgconn.socket, events)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError("the LISTEN connection did not answer in time")

        pgconn.send_query(b"SELECT 1")
        while pgconn.flush() != 0:
            wait(selectors.EVENT_WRITE)
        failed = None
        while True:
            pgconn.consume_input()
            finished = False
            while not pgconn.is_busy():
                result = pgconn.get_result()
                if result is None:
                    finished = True
                    break
                if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
                    failed = result.status
            if finished:
                break
            wait(selectors.EVENT_READ)
    if failed is not None:
        raise psycopg.OperationalError(
            f"the liveness probe failed ({psycopg.pq.ExecStatus(failed).name})"
        )
    encoding = conn.info.encoding
    heard = []
    while (notify := pgconn.notifies()) is not None:
        heard.append((notify.relname.decode(encoding), notify.extra.decode(encoding)))
    return heard


def _call(callback: Any, *args: str) -> None:
    try:
        callback(*args)
    except Exception:  # one failing callback must not end the listener for all
        logger.exception("a decision listener callback failed")
