"""The one way the PostgreSQL stores reach the database.

- `PostgresDatabase` holds a small pool of autocommit connections (psycopg 3,
  ``psycopg_pool``), opened lazily and again after a fork: a connection never crosses a
  fork, so a Celery or multiprocessing child opens its own on first use.
- `PostgresDatabase.transaction` is one transaction on one pooled connection (``COMMIT``,
  or ``ROLLBACK`` on any error). Every atomic change of every store goes through it; row
  locks (``SELECT ... FOR UPDATE``) make a claim wait for a concurrent claim, and
  ``FOR UPDATE SKIP LOCKED`` picks work from a queue without waiting.
- Time is the database's ``now()`` wherever a lease or claim is judged, never a host's
  clock: hosts of a fleet disagree about the time, the database does not.
- `PostgresDatabase.ensure_schema` creates or upgrades the tables (`schema.migrate`) once
  per process under ``pg_advisory_xact_lock``, so four processes starting together on an
  empty database do not race.

The DSN may hold a password: it never appears in a repr, a log line or an exception this
module raises (`describe_dsn` names host, port and database only).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger("mm_assistants.state")

#: Connections a process's pool holds at most.
DEFAULT_POOL_SIZE = 4
#: Seconds to wait for a connection (from the server or the pool) before failing.
CONNECT_TIMEOUT = 10.0


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - exercised without the extra only
        raise ImportError(
            "the PostgreSQL backend needs psycopg 3: pip install 'mm-assistants[postgres]'"
        ) from None
    return psycopg


def parse_dsn(dsn: str) -> dict[str, str]:
    """The parts of ``dsn`` (a ``postgresql://`` URL or ``key=value`` string); a
    `ValueError` that never repeats the DSN (it may hold a password) when it is not one."""
    if not isinstance(dsn, str) or not dsn.strip():
        raise ValueError("dsn must be a non-empty PostgreSQL connection string")
    psycopg = _psycopg()
    try:
        return {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(dsn).items()}
    except psycopg.ProgrammingError:
        raise ValueError(
            "dsn is not a PostgreSQL connection string: use postgresql://user@host:5432/db"
            " or 'host=... dbname=...'"
        ) from None


def describe_dsn(dsn: str) -> str:
    """``host:port/dbname`` of ``dsn``: what a repr or an error may say of it."""
    try:
        parts = parse_dsn(dsn)
    except ValueError:
        return "<invalid dsn>"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    port = parts.get("port") or "5432"
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or '?'}"


class PostgresDatabase:
    """A process's way into one PostgreSQL database (see the module docstring).

    Stores built from one `PostgresDatabase` share its pool. Example::

        db = PostgresDatabase("postgresql://app@db.internal/app")
        with db.transaction() as conn:
            conn.execute("SELECT 1")
    """

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        connect_timeout: float = CONNECT_TIMEOUT,
        prepared_statements: bool = True,
    ) -> None:
        parse_dsn(dsn)  # a bad DSN fails here, at construction
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"pool_size must be an int >= 1, not {pool_size!r}")
        self._dsn = dsn
        self.where = describe_dsn(dsn)
        self.pool_size = pool_size
        self.connect_timeout = float(connect_timeout)
        # psycopg prepares a statement run 5 times on a connection; behind PgBouncer's
        # transaction pooling the next transaction may get another server connection that
        # never saw it, so such deployments switch preparing off.
        self.prepared_statements = bool(prepared_statements)
        self._lock = threading.Lock()
        self._pool: Any = None
        self._pid = 0
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.where!r})"

    @property
    def dsn(self) -> str:
        """The connection string (secret: never log it), for a dedicated connection such
        as a LISTEN that must not come from the pool."""
        return self._dsn

    def connect(self, *, autocommit: bool = True) -> Any:
        """A new connection of its own, outside the pool (the caller closes it); a
        `ConnectionError` naming host, port, database and the kind of failure only."""
        psycopg = _psycopg()
        try:
            return psycopg.connect(
                self._dsn,
                autocommit=autocommit,
                connect_timeout=max(1, int(self.connect_timeout)),
                **self._options(),
            )
        except psycopg.Error as error:
            # libpq's text names the user and host; ours names the kind only
            raise ConnectionError(
                f"cannot connect to PostgreSQL at {self.where}: {connect_failure(error)}"
            ) from None

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled autocommit connection: each statement is its own transaction."""
        self.ensure_schema()
        with self._pooled() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A pooled connection inside one transaction: committed when the block ends,
        rolled back (and the error raised) when it raises."""
        self.ensure_schema()
        with self._pooled() as conn, conn.transaction():
            yield conn

    def ensure_schema(self) -> None:
        """Create or upgrade the tables once per process (`schema.migrate`); a database
        from a newer release raises `schema.SchemaTooNew`."""
        if self._schema_ready and self._pid == os.getpid():
            return
        from mm_assistants.state.postgres.schema import migrate

        with self._pooled() as conn:
            migrate(conn)
        self._schema_ready = True

    @contextmanager
    def _pooled(self) -> Iterator[Any]:
        pool = self._current_pool()
        with pool.connection(timeout=self.connect_timeout) as conn:
            yield conn

    def _options(self) -> dict[str, Any]:
        return {} if self.prepared_statements else {"prepare_threshold": None}

    def close(self) -> None:
        """Close this process's pool (connections another process opened are its own)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            pool.close()

    def _current_pool(self) -> Any:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                # after a fork the parent's pool is left alone (closing it here would end
                # the parent's sessions): this process opens its own
                self._pool = self._open_pool()
                self._pid = os.getpid()
                self._schema_ready = False
            return self._pool

    def _open_pool(self) -> Any:
        # One direct connection first: a wrong password or an unreachable host fails now
        # with its reason, instead of after the pool's retries end in a bare timeout.
        self.connect().close()
        from psycopg_pool import ConnectionPool

        pool = ConnectionPool(
            self._dsn,
            min_size=1,
            max_size=self.pool_size,
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, int(self.connect_timeout)),
                **self._options(),
            },
            open=False,
            name=f"mm-assistants {self.where}",
        )
        try:
            pool.open(wait=True, timeout=self.connect_timeout)
        except Exception:  # noqa: BLE001 - the pool's timeout hides psycopg's error; the DSN must not leak either way
            pool.close()
            raise ConnectionError(f"cannot connect to PostgreSQL at {self.where}") from None
        return pool


def seconds_until(until: float) -> float:
    """How long from now (this host's clock) ``until`` (unix seconds) is, never negative:
    the duration a lease lasts, added to the database's ``now()`` so that the hosts of a
    fleet, whose clocks disagree, judge it alike."""
    return max(0.0, float(until) - time.time())


def quarantine(
    db: PostgresDatabase,
    *,
    table: str,
    into: str,
    key_column: str,
    columns: Sequence[str],
    key: str,
    problem: str,
    what: str,
) -> None:
    """Move the row ``key`` of ``table`` to ``into`` (same ``columns`` plus ``problem``)
    in one transaction and log it as ``what`` by its key and ``problem`` only: the row's
    content may hold anything."""
    names = ", ".join(columns)  # table and column names are this package's constants
    with db.transaction() as conn:
        conn.execute(
            f"INSERT INTO {into} ({names}, problem)"
            f" SELECT {names}, %s FROM {table} WHERE {key_column} = %s",
            (problem, key),
        )
        conn.execute(f"DELETE FROM {table} WHERE {key_column} = %s", (key,))
    logger.warning(
        "%s %r could not be read (%s); moved to %s at %s",
        what,
        str(key)[:80],
        problem,
        into,
        db.where,
    )


def connect_failure(error: BaseException) -> str:
    """What went wrong when connecting, in words that hold no part of the DSN."""
    state = getattr(error, "sqlstate", None) or ""
    text = str(error)  # only matched against, never repeated
    if state in ("28P01", "28000") or "authentication failed" in text:
        return "authentication failed (check the user and password)"
    if state == "3D000" or ("database" in text and "does not exist" in text):
        return "the database does not exist"
    if state.startswith("53"):
        return "the server has no room for another connection"
    if state == "57P03":
        return "the server is starting up or shutting down"
    return "the server is unreachable (check host and port, and that PostgreSQL runs)"


def database(dsn_or_db: str | PostgresDatabase) -> PostgresDatabase:
    """A `PostgresDatabase` from a DSN, or the one given (to share its pool)."""
    if isinstance(dsn_or_db, PostgresDatabase):
        return dsn_or_db
    return PostgresDatabase(dsn_or_db)
