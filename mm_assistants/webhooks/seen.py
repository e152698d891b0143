"""Which webhook deliveries were accepted already: the receiver's replay memory.

A captured delivery stays correctly signed forever, so the receiver remembers every one it
accepted (by delivery id, event id and a digest of the signed body) at least as long as the
delivery could still pass the freshness check, and refuses a second copy. That memory must
survive a restart, or a replay right after one would be taken as new.

`SeenDeliveries` is the protocol: ``claim(keys, now=..., keep_until=...)`` is "first to
insert wins" (atomic, also across processes for a shared backend), ``release(keys)`` forgets
a delivery whose handling failed so MultiMail's retry is taken. The caller says what time it
is (the receiver's clock, which also judged the delivery's freshness), so a store needs no
clock of its own. Two backends:

- `SQLiteSeenStore` (the receiver's default): a file, created ``0600``, that several worker
  processes of one host may share; it survives restarts.
- `MemorySeenStore`: one process's memory (tests, or a deliberately ephemeral receiver).

A database shared by several hosts implements the same two methods.

Where the default file lives: `default_seen_path`, i.e. ``$MM_ASSISTANTS_STATE_DIR``, else
``$XDG_STATE_HOME/mm-assistants``, else ``~/.local/state/mm-assistants`` (on Windows
``%LOCALAPPDATA%\\mm-assistants``), file ``webhook-deliveries.sqlite3``.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

#: Environment variable naming the folder of the library's local state (the default store).
STATE_DIR_ENV = "MM_ASSISTANTS_STATE_DIR"
SEEN_FILE = "webhook-deliveries.sqlite3"
#: How many keys a `MemorySeenStore` holds before it forgets the soonest to expire.
DEFAULT_MAX_ENTRIES = 100_000
_PRUNE_EVERY = 256  # claims between two deletions of expired rows in SQLite


@runtime_checkable
class SeenDeliveries(Protocol):
    """A memory of accepted deliveries (see the module docstring)."""

    def claim(self, keys: Sequence[str], *, now: float, keep_until: float) -> bool:
        """Remember ``keys`` until ``keep_until`` and return True, or return False,
        remembering nothing, when one of them is remembered past ``now`` already (both unix
        seconds). Atomic: of two callers claiming the same key, exactly one wins."""

    def release(self, keys: Sequence[str]) -> None:
        """Forget ``keys`` (a delivery whose handling failed, so its retry is taken)."""


class MemorySeenStore:
    """`SeenDeliveries` in this process's memory: thread-safe, bounded, gone at exit.

    Past ``max_entries`` the keys due to expire soonest are forgotten first, so a flood
    costs bounded memory (expired keys go first, at that moment).

    Example::

        store = MemorySeenStore()
        now = time.time()
        store.claim(["event:evt_1"], now=now, keep_until=now + 3600)  # True, then False
    """

    def __init__(self, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"max_entries must be an int >= 1, not {max_entries!r}")
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}  # key -> keep_until

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_entries={self.max_entries}, size={len(self)})"

    def __len__(self) -> int:
        """How many keys are held (expired ones included until they are pruned)."""
        with self._lock:
            return len(self._seen)

    def claim(self, keys: Sequence[str], *, now: float, keep_until: float) -> bool:
        keys = tuple(keys)
        with self._lock:
            if any(self._seen.get(key, -1.0) > now for key in keys):
                return False
            for key in keys:
                self._seen[key] = keep_until
            if len(self._seen) > self.max_entries:
                self._shrink(now)
            return True

    def release(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._seen.pop(key, None)

    def _shrink(self, now: float) -> None:
        self._seen = {key: until for key, until in self._seen.items() if until > now}
        excess = len(self._seen) - self.max_entries
        if excess > 0:
            for key in sorted(self._seen, key=self._seen.__getitem__)[:excess]:
                del self._seen[key]


class SQLiteSeenStore:
    """`SeenDeliveries` in a SQLite file: survives restarts; the processes of one host that
    open the same file accept each delivery once (``BEGIN IMMEDIATE`` serialises claims).

    The file (and its folder, when this creates it) is readable by its owner only. Expired
    rows are deleted now and then while claiming. A claim is one small local write; an
    async receiver makes it in the event loop, as it verifies the signature there.

    Example::

        receiver = WebhookReceiver(secret, replay_guard=SQLiteSeenStore("/var/lib/app/seen.db"))
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._claims = 0
        _create_private(Path(self.path))
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS mm_webhook_seen"
                " (key TEXT PRIMARY KEY, keep_until REAL NOT NULL)"
            )

    def __repr__(self) -> str:
        return f"SQLiteSeenStore({self.path!r})"

    def claim(self, keys: Sequence[str], *, now: float, keep_until: float) -> bool:
        keys = tuple(keys)
        with self._transaction() as db:
            marks = ",".join("?" * len(keys))
            found = db.execute(
                f"SELECT 1 FROM mm_webhook_seen WHERE keep_until > ? AND key IN ({marks})",
                (now, *keys),
            ).fetchone()
            if found is not None:
                return False
            db.executemany(
                "INSERT OR REPLACE INTO mm_webhook_seen VALUES (?, ?)",
                [(key, keep_until) for key in keys],
            )
            self._claims += 1
            if self._claims % _PRUNE_EVERY == 1:
                db.execute("DELETE FROM mm_webhook_seen WHERE keep_until <= ?", (now,))
            return True

    def release(self, keys: Iterable[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM mm_webhook_seen WHERE key = ?", [(k,) for k in keys])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock before the look-up, so two processes on one
        # file cannot both find a key absent and both insert it.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")


def default_seen_path() -> Path:
    """Where a receiver keeps its replay memory when given none (module docstring)."""
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured) / SEEN_FILE
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    else:
        xdg = os.environ.get("XDG_STATE_HOME")
        base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "mm-assistants" / SEEN_FILE


def open_seen_store(store: SeenDeliveries | str | Path | None) -> SeenDeliveries:
    """A store from what a user passes: a store, a SQLite path, or ``None`` (the SQLite file
    at `default_seen_path`)."""
    if store is None:
        return SQLiteSeenStore(default_seen_path())
    if isinstance(store, (str, Path)):
        return SQLiteSeenStore(store)
    if not isinstance(store, SeenDeliveries):
        raise TypeError(
            f"replay_guard must be a SeenDeliveries store or a path, not {type(store).__name__}"
        )
    return store


def _create_private(path: Path) -> None:
    """Create ``path`` (and a missing folder) for the owner only; SQLite gives its -wal and
    -shm files the database file's permissions."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if str(path) == ":memory:" or path.exists():
        return
    descriptor = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(descriptor)
