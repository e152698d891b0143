"""The in-memory backends: every store of `mm_assistants.state` in one process's memory.

Each is thread-safe (one lock per store), so its atomic calls are atomic between the
threads of a process; nothing survives the process. Use them in tests, the demo, or a
single process that may forget at exit; use `mm_assistants.state.sqlite` to survive a
restart or share state between the processes of one host.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace

from mm_assistants.state.checkpoints import (
    Checkpoint,
    CheckpointClaim,
    check_checkpoint,
    claim_holds,
)
from mm_assistants.state.memory_routes import MemoryRouteStore
from mm_assistants.state.owners import claim_live
from mm_assistants.state.pending import PendingRecord
from mm_assistants.state.seen import DEFAULT_MAX_ENTRIES

__all__ = [
    "MemoryCheckpointStore",
    "MemoryPendingStore",
    "MemoryRouteStore",
    "MemorySeenStore",
]


class MemoryPendingStore:
    """A `PendingStore` in memory (lost when the process ends)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, PendingRecord] = {}
        self._claims: dict[str, tuple[str, float]] = {}

    def __repr__(self) -> str:
        return f"MemoryPendingStore(records={len(self._records)})"

    def add(self, record: PendingRecord) -> None:
        """Remember ``record`` (see `PendingStore.add`)."""
        with self._lock:
            known = self._records.get(record.email_id)
            if known is not None:  # the email has been waited on since it was first held
                record = replace(record, recorded_at=known.recorded_at)
            self._records[record.email_id] = record

    def all(self) -> list[PendingRecord]:
        """Every record, oldest first."""
        with self._lock:
            return sorted(self._records.values(), key=lambda r: r.recorded_at)

    def for_mailbox(self, mailbox_id: str) -> list[PendingRecord]:
        """Every record of ``mailbox_id``, oldest first."""
        with self._lock:
            mine = [r for r in self._records.values() if r.mailbox_id == mailbox_id]
        return sorted(mine, key=lambda r: r.recorded_at)

    def get(self, email_id: str) -> PendingRecord | None:
        """The record of ``email_id``, or ``None``."""
        with self._lock:
            return self._records.get(email_id)

    def remove(self, email_id: str) -> None:
        """Forget the record of ``email_id`` (and its claim)."""
        with self._lock:
            self._records.pop(email_id, None)
            self._claims.pop(email_id, None)

    def claim(self, email_id: str, token: str, *, until: float) -> PendingRecord | None:
        """Take the record for delivery (see `PendingStore.claim`)."""
        with self._lock:
            record = self._records.get(email_id)
            held = self._claims.get(email_id)
            if record is None or (held is not None and claim_live(*held, time.time())):
                return None
            self._claims[email_id] = (token, until)
            return record

    def release(self, email_id: str, token: str) -> None:
        """Give back the claim ``token`` holds; another's claim is left alone."""
        with self._lock:
            held = self._claims.get(email_id)
            if held is not None and held[0] == token:
                del self._claims[email_id]


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
        """First to insert wins (see `SeenDeliveries.claim`)."""
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
        """Forget ``keys``."""
        with self._lock:
            for key in keys:
                self._seen.pop(key, None)

    def _shrink(self, now: float) -> None:
        self._seen = {key: until for key, until in self._seen.items() if until > now}
        excess = len(self._seen) - self.max_entries
        if excess > 0:
            for key in sorted(self._seen, key=self._seen.__getitem__)[:excess]:
                del self._seen[key]


class MemoryCheckpointStore:
    """A `CheckpointStore` in memory (gone when the process ends)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checkpoints: dict[str, Checkpoint] = {}
        self._last_token = 0  # one counter for all: a token never repeats, even after delete

    def __repr__(self) -> str:
        return f"MemoryCheckpointStore(checkpoints={len(self._checkpoints)})"

    def put(
        self, checkpoint_id: str, record: bytes, *, format_version: int, token: int | None = None
    ) -> bool:
        """Store a checkpoint (see `CheckpointStore.put`)."""
        check_checkpoint(checkpoint_id, record, format_version)
        with self._lock:
            known = self._checkpoints.get(checkpoint_id)
            if token is not None and (known is None or known.fence != token):
                return False
            if known is None:
                known = Checkpoint(checkpoint_id, b"", format_version, 0.0)
            self._checkpoints[checkpoint_id] = replace(
                known, record=bytes(record), format_version=format_version, updated_at=time.time()
            )
            return True

    def get(self, checkpoint_id: str) -> Checkpoint | None:
        """The checkpoint, or ``None``."""
        with self._lock:
            return self._checkpoints.get(checkpoint_id)

    def claim(self, checkpoint_id: str, *, until: float) -> CheckpointClaim | None:
        """Claim the checkpoint (see `CheckpointStore.claim`)."""
        with self._lock:
            known = self._checkpoints.get(checkpoint_id)
            if known is None or claim_holds(known, time.time()):
                return None
            self._last_token += 1
            token = self._last_token
            # a lapsed claim (never released) was lost: its worker died or its drive raised
            attempts = known.attempts + (known.claimed_until is not None)
            claimed = replace(
                known, fence=token, claimed_until=until, attempts=attempts, next_attempt_at=None
            )
            self._checkpoints[checkpoint_id] = claimed
            return CheckpointClaim(claimed, token, until)

    def renew(self, checkpoint_id: str, token: int, *, until: float) -> bool:
        """Extend the claim ``token`` (see `CheckpointStore.renew`)."""
        with self._lock:
            known = self._checkpoints.get(checkpoint_id)
            if known is None or known.fence != token or known.claimed_until is None:
                return False
            self._checkpoints[checkpoint_id] = replace(known, claimed_until=until)
            return True

    def release(self, checkpoint_id: str, token: int) -> bool:
        """End the claim ``token`` (see `CheckpointStore.release`)."""
        with self._lock:
            known = self._checkpoints.get(checkpoint_id)
            if known is None or known.fence != token or known.claimed_until is None:
                return False
            self._checkpoints[checkpoint_id] = replace(known, claimed_until=None)
            return True

    def delete(self, checkpoint_id: str, *, token: int | None = None) -> bool:
        """Forget the checkpoint (see `CheckpointStore.delete`)."""
        with self._lock:
            known = self._checkpoints.get(checkpoint_id)
            if known is None or (token is not None and known.fence != token):
                return False
            del self._checkpoints[checkpoint_id]
            return True

    def defer(self, checkpoint_id: str, *, until: float) -> bool:
        """Set the checkpoint's next attempt (see `CheckpointStore.defer`)."""
        with self._lock:
            known = self._checkpoints.get(checkpoint_id)
            if known is None:
                return False
            self._checkpoints[checkpoint_id] = replace(known, next_attempt_at=until)
            return True

    def lapsed(self, limit: int = 100) -> list[str]:
        """Checkpoints whose claim lapsed unreleased and that are due (see
        `CheckpointStore.lapsed`)."""
        now = time.time()
        with self._lock:
            gone = [
                c
                for c in self._checkpoints.values()
                if c.claimed_until is not None and c.claimed_until <= now and c.due(now)
            ]
        gone.sort(key=lambda c: c.claimed_until or 0.0)
        return [c.checkpoint_id for c in gone[:limit]]
