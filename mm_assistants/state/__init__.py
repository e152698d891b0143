"""The bottom floor: everything that must outlive a call or a process.

Four stores, each a protocol with a memory and a SQLite backend written once:

- pending approvals: `PendingStore` (`MemoryPendingStore`, `SQLitePendingStore`);
- inbound routes, claims and queues: `RouteStore` (`MemoryRouteStore`, `SQLiteRouteStore`);
- seen webhook deliveries: `SeenDeliveries` (`MemorySeenStore`, `SQLiteSeenStore`);
- parked runs' checkpoints: `CheckpointStore` (`MemoryCheckpointStore`,
  `SQLiteCheckpointStore`).

For a fleet of processes on several hosts, `mm_assistants.state.postgres` (extra
``postgres``) implements every protocol on one PostgreSQL database (`PostgresState`), and
`Heartbeat` keeps a claim's lease alive while its work runs.

Packages above depend on the protocols; the caller chooses a backend. Every backend passes
the contract suite in ``tests/state`` (a new backend is one more fixture parameter there).
This package imports nothing of `mm_assistants` but itself.

Example::

    from mm_assistants.state import SQLitePendingStore
    dispatcher = Dispatcher(client, approval_store=SQLitePendingStore("pending.db"))
"""

from mm_assistants.state.checkpoints import Checkpoint, CheckpointClaim, CheckpointStore
from mm_assistants.state.checks import CheckLease, MailboxChecks, MemoryMailboxChecks
from mm_assistants.state.decisions import DecisionStore, MemoryDecisionStore
from mm_assistants.state.heartbeat import Heartbeat
from mm_assistants.state.memory import (
    MemoryCheckpointStore,
    MemoryPendingStore,
    MemoryRouteStore,
    MemorySeenStore,
)
from mm_assistants.state.opening import (
    SEEN_FILE,
    STATE_DIR_ENV,
    default_seen_path,
    default_state_dir,
    open_route_store,
    open_seen_store,
)
from mm_assistants.state.owners import current_owner, owner_alive
from mm_assistants.state.pending import PendingRecord, PendingStore, decode_record
from mm_assistants.state.postgres import (
    PostgresCheckpointStore,
    PostgresDatabase,
    PostgresDecisionStore,
    PostgresMailboxChecks,
    PostgresPendingStore,
    PostgresRouteStore,
    PostgresSeenStore,
    PostgresState,
)
from mm_assistants.state.routes import Admission, InboundMessage, RouteStore
from mm_assistants.state.seen import SeenDeliveries
from mm_assistants.state.sqlite import (
    SQLiteCheckpointStore,
    SQLitePendingStore,
    SQLiteRouteStore,
    SQLiteSeenStore,
)

__all__ = [
    "SEEN_FILE",
    "STATE_DIR_ENV",
    "Admission",
    "CheckLease",
    "Checkpoint",
    "CheckpointClaim",
    "CheckpointStore",
    "DecisionStore",
    "Heartbeat",
    "InboundMessage",
    "MailboxChecks",
    "MemoryCheckpointStore",
    "MemoryDecisionStore",
    "MemoryMailboxChecks",
    "MemoryPendingStore",
    "MemoryRouteStore",
    "MemorySeenStore",
    "PendingRecord",
    "PendingStore",
    "PostgresCheckpointStore",
    "PostgresDatabase",
    "PostgresDecisionStore",
    "PostgresMailboxChecks",
    "PostgresPendingStore",
    "PostgresRouteStore",
    "PostgresSeenStore",
    "PostgresState",
    "RouteStore",
    "SQLiteCheckpointStore",
    "SQLitePendingStore",
    "SQLiteRouteStore",
    "SQLiteSeenStore",
    "SeenDeliveries",
    "current_owner",
    "decode_record",
    "default_seen_path",
    "default_state_dir",
    "open_route_store",
    "open_seen_store",
    "owner_alive",
]
