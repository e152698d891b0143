"""The SQLite backends: every store of `mm_assistants.state` in a file that survives a
restart and that the processes of one host may share.

All four open their file with `connection.open_database` (created ``0600``, WAL, one busy
timeout) and make every atomic change in `connection.Database.transaction` (``BEGIN
IMMEDIATE``); each records its layout in the ``mm_schema_versions`` table. Several stores
may share one file (their tables do not overlap).
"""

from mm_assistants.state.sqlite.checkpoints import SQLiteCheckpointStore
from mm_assistants.state.sqlite.connection import BUSY_TIMEOUT, Database, open_database
from mm_assistants.state.sqlite.pending import SQLitePendingStore
from mm_assistants.state.sqlite.routes import SQLiteRouteStore
from mm_assistants.state.sqlite.seen import SQLiteSeenStore

__all__ = [
    "BUSY_TIMEOUT",
    "Database",
    "SQLiteCheckpointStore",
    "SQLitePendingStore",
    "SQLiteRouteStore",
    "SQLiteSeenStore",
    "open_database",
]
