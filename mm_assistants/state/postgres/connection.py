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

- A dead connection is noticed: every connection (pooled, and a listener's own) gets TCP
  keepalives and ``tcp_user_timeout`` (`session_parameters`, unless the DSN sets them), a
  ``statement_timeout`` of `STATEMENT_TIMEOUT` seconds (unless the DSN's ``options`` or
  ``PGOPTIONS`` set one), and the pool checks a connection before handing it out. Behind a
  PgBouncer that refuses the ``options`` startup parameter, pass ``statement_timeout=None``
  and set it on the role instead (``ALTER ROLE app SET statement_timeout = '30s'``).

The DSN may hold a password: it never appears in a repr, a log line or an exception this
module raises (`describe_dsn` names host, port and database only, and only when they look
like a host, a port and a database name).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger("mm_assistants.state")

#: Connections a process's pool holds at most.
DEFAULT_POOL_SIZE = 4
#: Seconds to wait for a connection (from the server or the pool) before failing.
CONNECT_TIMEOUT = 10.0
#: Seconds a statement may run (the server's ``statement_timeout``) unless the DSN sets it:
#: a store call, or a heartbeat's renewal, never waits forever on a lock or a stuck server.
STATEMENT_TIMEOUT = 30.0
#: libpq's TCP settings for every connection, unless the DSN sets them: a path that died
#: silently (a NAT or load balancer that forgot the connection) is found within about a
#: minute by the kernel, instead of never.
KEEPALIVES: Mapping[str, str] = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}
#: Milliseconds sent data may stay unacknowledged before the kernel drops the connection
#: (libpq 12 and later).
TCP_USER_TIMEOUT = "60000"


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


# What a host, a port or a database name looks like. Anything else is shown as "?": a
# dbname may itself be a whole connection string or URL (libpq's expand_dbname), password
# included, and a misplaced one may land in host.
_HOST = re.compile(
    r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,252}"  # a name or an IPv4 address
    r"|/[A-Za-z0-9._/-]{0,250}"  # a Unix socket directory
    r"|\[?[0-9A-Fa-f:.]{2,45}\]?"  # an IPv6 address
)
_PORT = re.compile(r"[0-9]{1,5}")
_DBNAME = re.compile(r"[^\s=@/:?&%'\"\\\x00-\x1f\x7f]{1,63}")


def _shown(value: str, pattern: re.Pattern[str]) -> str:
    """``value`` when each of its comma-separated parts (libpq's multi-host lists) matches
    ``pattern``, else "?"."""
    parts = value.split(",")
    if len(parts) > 8 or not all(pattern.fullmatch(part) for part in parts):
        return "?"
    return value


def describe_dsn(dsn: str) -> str:
    """``host:port/dbname`` of ``dsn``: what a repr or an error may say of it. A part that
    does not look like a host, a port or a database name (it might hold a password) is
    shown as "?"."""
    try:
        parts = parse_dsn(dsn)
    except ValueError:
        return "<invalid dsn>"
    host = _shown(parts.get("host") or parts.get("hostaddr") or "localhost", _HOST)
    port = _shown(parts.get("port") or "5432", _PORT)
    name = parts.get("dbname") or parts.get("user") or "?"
    return f"{host}:{port}/{_shown(name, _DBNAME) if ',' not in name else '?'}"


def session_parameters(
    parts: Mapping[str, str],
    *,
    statement_timeout: float | None,
    pgoptions: str | None = None,
    libpq_version: int = 0,
) -> dict[str, str]:
    """The libpq parameters this package adds to a connection of the DSN ``parts``:
    `KEEPALIVES` (and ``tcp_user_timeout`` from libpq 12), and ``statement_timeout`` in
    ``options``; none that the DSN sets itself. ``pgoptions`` is the ``PGOPTIONS``
    environment variable, which an ``options`` parameter would otherwise replace."""
    extra = {key: value for key, value in KEEPALIVES.items() if key not in parts}
    if libpq_version >= 120000 and "tcp_user_timeout" not in parts:
        extra["tcp_user_timeout"] = TCP_USER_TIMEOUT
    if statement_timeout is not None:
        options = parts.get("options", pgoptions or "")
        if "statement_timeout" not in options:
            millis = max(1, round(float(statement_timeout) * 1000))
            extra["options"] = f"{options} -c statement_timeout={millis}".strip()
    return extra


def connect_parameters(dsn: str, *, statement_timeout: float | None) -> dict[str, str]:
    """`session_parameters` for ``dsn`` in this process (its libpq, its ``PGOPTIONS``)."""
    return session_parameters(
        parse_dsn(dsn),
        statement_timeout=statement_timeout,
        pgoptions=os.environ.get("PGOPTIONS"),
        libpq_version=int(_psycopg().pq.version()),
    )


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
        statement_timeout: float | None = STATEMENT_TIMEOUT,
    ) -> None:
        parse_dsn(dsn)  # a bad DSN fails here, at construction
        if statement_timeout is not None and not float(statement_timeout) > 0:
            raise ValueError("statement_timeout must be a positive number of seconds or None")
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
        #: Seconds a statement may run on this database's pooled connections (None: the
        #: server's own setting).
        self.statement_timeout = statement_timeout
        self._session = connect_parameters(dsn, statement_timeout=statement_timeout)
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
        options: dict[str, Any] = dict(self._session)
        if not self.prepared_statements:
            options["prepare_threshold"] = None
        return options

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
            # a connection that died while idle in the pool (a restarted server, a dropped
            # path) is replaced before a caller gets it, not failed on the caller's query
            check=ConnectionPool.check_connection,
            name=f"mm-assistants {self.where}",
        )
        try:
            pool.open(wait=True, timeout=self.connect_timeout)
        except Exception:  # noqa: BLE001 -- the pool's timeout hides psycopg's error; the DSN must not leak either way
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
