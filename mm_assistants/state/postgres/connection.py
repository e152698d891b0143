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
from collections.abc import Iterator
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
    ) -> None:
        parse_dsn(dsn)  # a bad DSN fails here, at construction
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"pool_size must be an int >= 1, not {pool_size!r}")
        self._dsn = dsn
        self.where = describe_dsn(dsn)
        self.pool_size = pool_size
        self.connect_timeout = float(connect_timeout)
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
        """A new connection of its own, outside the pool (the caller closes it)."""
        psycopg = _psycopg()
        try:
            return psycopg.connect(
                self._dsn, autocommit=autocommit, connect_timeout=int(self.connect_timeout)
            )
        except psycopg.OperationalError as error:
            raise ConnectionError(f"cannot connect to PostgreSQL at {self.where}") from error

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A pooled autocommit connection: each statement is its own transaction."""
        pool = self._current_pool()
        with pool.connection(timeout=self.connect_timeout) as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A pooled connection inside one transaction: committed when the block ends,
        rolled back (and the error raised) when it raises."""
        self.ensure_schema()
        with self.connection() as conn, conn.transaction():
            yield conn

    def ensure_schema(self) -> None:
        """Create or upgrade the tables once per process (`schema.migrate`)."""
        if self._schema_ready and self._pid == os.getpid():
            return
        from mm_assistants.state.postgres.schema import migrate

        with self.connection() as conn:
            migrate(conn)
        self._schema_ready = True

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
        _psycopg()
        from psycopg_pool import ConnectionPool

        pool = ConnectionPool(
            self._dsn,
            min_size=1,
            max_size=self.pool_size,
            kwargs={"autocommit": True, "connect_timeout": int(self.connect_timeout)},
            open=False,
            name=f"mm-assistants {self.where}",
        )
        try:
            pool.open(wait=True, timeout=self.connect_timeout)
        except Exception:  # noqa: BLE001 - the pool's timeout hides psycopg's error; the DSN must not leak either way
            pool.close()
            raise ConnectionError(f"cannot connect to PostgreSQL at {self.where}") from None
        return pool


def database(dsn_or_db: str | PostgresDatabase) -> PostgresDatabase:
    """A `PostgresDatabase` from a DSN, or the one given (to share its pool)."""
    if isinstance(dsn_or_db, PostgresDatabase):
        return dsn_or_db
    return PostgresDatabase(dsn_or_db)
