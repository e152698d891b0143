"""`PostgresDecisionStore`: decisions in ``mm_decisions``, the doorbell on LISTEN/NOTIFY.

`PostgresDecisionStore.record` upserts the row and calls ``pg_notify(channel, email_id)``
in ONE transaction: PostgreSQL delivers the notification only when the row is committed,
so a process that hears the bell always finds the decision. The payload is the email id
and nothing else.

`PostgresDecisionStore.listen` shares ONE dedicated connection per process and channel
(`_Listener`): not from the pool (a pooled connection goes back to other users, and
PgBouncer's transaction pooling drops a LISTEN at the end of each transaction), in
autocommit, read by a daemon thread. When the connection fails the thread reconnects with
a bounded backoff and calls every ``reconnected()`` after each successful LISTEN, the
first one included: notifications sent while it was away are lost, and the callers re-read
what they wait for. A child process after a fork opens its own listener: the parent's
socket is never read or closed by the child.

Anyone who can connect to the database can ``pg_notify`` on the channel: a payload that is
not a plausible email id (`mm_assistants.state.decisions.plausible_email_id`) is counted
and dropped, its content never logged.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from mm_assistants.state.decisions import (
    Listening,
    Reconnected,
    Ring,
    checked_email_id,
    encode_decision,
    plausible_email_id,
)
from mm_assistants.state.postgres.connection import (
    CONNECT_TIMEOUT,
    PostgresDatabase,
    _psycopg,
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
    ) -> None:
        if not isinstance(channel, str) or not _CHANNEL.fullmatch(channel):
            raise ValueError(
                "channel must be a lower-case PostgreSQL identifier (letters, digits, _)"
            )
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

    def record(self, email_id: str, data: Mapping[str, Any]) -> None:
        """Upsert the decision of ``email_id`` and ring the channel, in one transaction."""
        checked_email_id(email_id)
        encoded = encode_decision(data)
        with self.database.transaction() as conn:
            conn.execute(
                "INSERT INTO mm_decisions (email_id, record) VALUES (%s, %s::jsonb)"
                " ON CONFLICT (email_id) DO UPDATE SET record = excluded.record,"
                " decided_at = now()",
                (email_id, encoded),
            )
            conn.execute("SELECT pg_notify(%s, %s)", (self.channel, email_id))

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
                    self._dsn, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT)
                )
            except psycopg.Error as error:
                logger.warning(
                    "decision listener cannot connect to %s (%s); retrying in %.1f s",
                    self.where, type(error).__name__, delay,
                )  # fmt: skip
                self._stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            try:
                self._listen(conn)
                delay = RECONNECT_FIRST
                self._read(conn)
            except Exception as error:  # noqa: BLE001 - whatever broke the connection, listen again
                if not self._stop.is_set():
                    logger.warning(
                        "decision listener lost %s (%s); reconnecting",
                        self.where, type(error).__name__,
                    )  # fmt: skip
                    self._stop.wait(delay)
                    delay = min(delay * 2, RECONNECT_MAX)
            finally:
                conn.close()

    def _listen(self, conn: Any) -> None:
        from psycopg import sql

        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        with self._lock:
            self.connections += 1
        for _, reconnected in self._callbacks():
            _call(reconnected)

    def _read(self, conn: Any) -> None:
        while not self._stop.is_set():
            for notify in conn.notifies(timeout=POLL_SECONDS):
                if notify.channel != self.channel or not plausible_email_id(notify.payload):
                    self.ignored += 1
                    logger.debug(
                        "decision listener ignored a payload that is no email id (%d chars)",
                        len(notify.payload),
                    )
                    continue
                for ring, _ in self._callbacks():
                    _call(ring, notify.payload)
                if self._stop.is_set():
                    return


def _call(callback: Any, *args: str) -> None:
    try:
        callback(*args)
    except Exception:  # one failing callback must not end the listener for all
        logger.exception("a decision listener callback failed")
