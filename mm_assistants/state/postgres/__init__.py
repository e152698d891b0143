"""The PostgreSQL backend of every store (extra ``postgres``: psycopg 3 and psycopg_pool).

One database for a whole fleet: the receivers and workers of several hosts point at one
DSN. Stores built from one `PostgresDatabase` share its pool; `PostgresState` builds the
four stores of `mm_assistants.state` on one. The tables are created (or upgraded) on first
use under an advisory lock, or ahead of time by ``mm-assistants state init``.

Example::

    state = PostgresState(os.environ["MM_ASSISTANTS_DSN"])
    router = InboundRouter(openai, dispatcher, assistant_id="asst_1", store=state.routes)
    ...
    state.close()
"""

from __future__ import annotations

from mm_assistants.state.postgres.checkpoints import PostgresCheckpointStore
from mm_assistants.state.postgres.checks import PostgresMailboxChecks
from mm_assistants.state.postgres.connection import PostgresDatabase, database
from mm_assistants.state.postgres.decisions import PostgresDecisionStore
from mm_assistants.state.postgres.pending import PostgresPendingStore
from mm_assistants.state.postgres.routes import DEFAULT_SEEN_RETENTION, PostgresRouteStore
from mm_assistants.state.postgres.schema import SchemaTooNew
from mm_assistants.state.postgres.seen import PostgresSeenStore
from mm_assistants.state.routes import DEFAULT_LEASE

__all__ = [
    "PostgresCheckpointStore",
    "PostgresDatabase",
    "PostgresDecisionStore",
    "PostgresMailboxChecks",
    "PostgresPendingStore",
    "PostgresRouteStore",
    "PostgresSeenStore",
    "PostgresState",
    "SchemaTooNew",
]


class PostgresState:
    """Every store on one database and one pool: ``pending``, ``routes``, ``seen``,
    ``checkpoints``, ``decisions`` (the fleet's oversight decisions, for
    ``ApprovalHub(state.decisions)``) and ``checks`` (the fleet watcher's per-mailbox check
    rows); `close` closes the pool (if this built it from a DSN).

    ``dsn`` may hold a password: it never appears in a repr, log line or error.
    ``listen_dsn`` is where the one LISTEN connection of the process goes, for deployments
    that pool every other connection through PgBouncer in transaction mode (LISTEN needs a
    session of its own); by default it is ``dsn``.
    """

    def __init__(
        self,
        dsn: str | PostgresDatabase,
        *,
        lease: float = DEFAULT_LEASE,
        seen_retention: float = DEFAULT_SEEN_RETENTION,
        listen_dsn: str | None = None,
    ) -> None:
        self.database = database(dsn)
        self._owned = not isinstance(dsn, PostgresDatabase)
        self.pending = PostgresPendingStore(self.database)
        self.routes = PostgresRouteStore(self.database, lease=lease, seen_retention=seen_retention)
        self.seen = PostgresSeenStore(self.database)
        self.checkpoints = PostgresCheckpointStore(self.database)
        self.decisions = PostgresDecisionStore(self.database, listen_dsn=listen_dsn)
        self.checks = PostgresMailboxChecks(self.database)

    def __repr__(self) -> str:
        return f"PostgresState({self.database.where!r})"

    def close(self) -> None:
        """Close the pool (a `PostgresDatabase` given to this is the caller's to close)."""
        if self._owned:
            self.database.close()
