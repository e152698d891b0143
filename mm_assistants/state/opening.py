"""A store from what a user passes: a store, a SQLite path, or nothing (the default).

Where the library keeps local state when given no path: ``$MM_ASSISTANTS_STATE_DIR``, else
``$XDG_STATE_HOME/mm-assistants``, else ``~/.local/state/mm-assistants`` (on Windows
``%LOCALAPPDATA%\\mm-assistants``). The webhook receiver's replay memory is the file
``webhook-deliveries.sqlite3`` there (`default_seen_path`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mm_assistants.state.memory import MemoryRouteStore
from mm_assistants.state.routes import RouteStore
from mm_assistants.state.seen import SeenDeliveries
from mm_assistants.state.sqlite.routes import SQLiteRouteStore
from mm_assistants.state.sqlite.seen import SQLiteSeenStore

#: Environment variable naming the folder of the library's local state.
STATE_DIR_ENV = "MM_ASSISTANTS_STATE_DIR"
#: The file name of the webhook receiver's default replay memory.
SEEN_FILE = "webhook-deliveries.sqlite3"


def default_state_dir() -> Path:
    """The folder of the library's local state (module docstring); not created here."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured)
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "mm-assistants"
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "mm-assistants"


def default_seen_path() -> Path:
    """Where a webhook receiver keeps its replay memory when given none."""
    return default_state_dir() / SEEN_FILE


def open_seen_store(store: SeenDeliveries | str | Path | None) -> SeenDeliveries:
    """A replay memory from what a user passes: a store, a SQLite path, or ``None`` (the
    SQLite file at `default_seen_path`). Anything else is a `TypeError`."""
    if store is None:
        return SQLiteSeenStore(default_seen_path())
    if isinstance(store, (str, Path)):
        return SQLiteSeenStore(store)
    if not isinstance(store, SeenDeliveries):
        raise TypeError(
            f"replay_guard must be a SeenDeliveries store or a path, not {type(store).__name__}"
        )
    return store


def open_route_store(store: RouteStore | str | Path | None) -> RouteStore:
    """A route store from what a user passes: a store, a SQLite path, or ``None``
    (memory)."""
    if store is None:
        return MemoryRouteStore()
    if isinstance(store, (str, Path)):
        return SQLiteRouteStore(store)
    return store
