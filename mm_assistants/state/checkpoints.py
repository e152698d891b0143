"""Run checkpoints: what a parked run needs to be resumed by any worker, and who resumes it.

A run whose held send is not decided soon is parked: its state (opaque bytes, usually JSON
the driver writes, with the ``format_version`` of that layout) is stored under a
checkpoint id, and whichever worker is free when the decision arrives resumes it. To
resume, a worker *claims* the checkpoint for a lease; the claim carries a *fencing token*,
a number larger than any earlier claim's on that checkpoint. A worker that stalled past its
lease and wakes up late still holds its old token, so its writes (`CheckpointStore.put`
with ``token=``), its `CheckpointStore.release` and its `CheckpointStore.delete` are
refused once someone else claimed the checkpoint: two workers never both move a run on.

Example::

    store.put("run_1", b'{"step": 3}', format_version=1)
    claim = store.claim("run_1", until=time.time() + 60)
    if claim is not None:
        ...                                       # resume from claim.checkpoint.record
        store.put("run_1", b'{"step": 4}', format_version=1, token=claim.token)
        store.delete("run_1", token=claim.token)  # the run finished
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Checkpoint:
    """One stored checkpoint. ``fence`` is the token of its latest claim (0: never
    claimed); ``claimed_until`` is when that claim lapses (``None``: not claimed);
    ``attempts`` how many claims took it over from a lapsed claim (a worker died, or a
    drive raised, with the run in hand): a run that keeps dying ends instead of looping;
    ``next_attempt_at``: when a run whose resume raised is due again (`CheckpointStore.defer`;
    ``None``: now)."""

    checkpoint_id: str
    record: bytes
    format_version: int
    updated_at: float
    fence: int = 0
    claimed_until: float | None = None
    attempts: int = 0
    next_attempt_at: float | None = None

    def due(self, now: float) -> bool:
        """Whether a resume may be tried at ``now`` (unix seconds): no backoff is set, or it
        ran out."""
        return self.next_attempt_at is None or self.next_attempt_at <= now

    def lost_claims(self, now: float) -> int:
        """Claims lost on it by ``now`` (unix seconds): the counted take-overs, plus its
        latest claim when that lapsed unreleased (the next claim will count it)."""
        lapsed = self.claimed_until is not None and self.claimed_until <= now
        return self.attempts + lapsed

    def __repr__(self) -> str:
        # the record is a run's state (messages, tool outputs): its size, never its text
        return (
            f"Checkpoint({self.checkpoint_id!r}, record=<{len(self.record)} bytes>,"
            f" format_version={self.format_version}, fence={self.fence})"
        )


@dataclass(frozen=True)
class CheckpointClaim:
    """A claim on a checkpoint: the checkpoint as it was claimed, the fencing ``token``
    to pass to later writes, and when the claim lapses (``until``, unix seconds)."""

    checkpoint: Checkpoint
    token: int
    until: float


class CheckpointStore(Protocol):
    """Where parked runs wait to be resumed (see the module docstring)."""

    def put(
        self, checkpoint_id: str, record: bytes, *, format_version: int, token: int | None = None
    ) -> bool:
        """Store ``record`` as the checkpoint ``checkpoint_id`` (replacing an earlier one).
        Without ``token`` the write always happens (a run parking itself); with ``token``
        it happens only while that is the checkpoint's latest claim, else nothing is
        written and False returned. A claim, if any, is kept."""

    def get(self, checkpoint_id: str) -> Checkpoint | None:
        """The checkpoint, or ``None`` when there is none (or it cannot be read)."""

    def claim(self, checkpoint_id: str, *, until: float) -> CheckpointClaim | None:
        """Claim the checkpoint until ``until`` (unix seconds); atomic, so of several
        callers at most one gets it. ``None`` when there is no checkpoint or a claim that
        has not lapsed holds it. Each claim's token is larger than every earlier one's. A
        claim that takes over a lapsed claim (not a released one) counts an attempt
        (`Checkpoint.attempts`). The claim clears `Checkpoint.next_attempt_at` (it is
        the attempt that was due); it does not wait for it: callers that back off check
        `Checkpoint.due` first."""

    def renew(self, checkpoint_id: str, token: int, *, until: float) -> bool:
        """Extend the claim ``token`` until ``until`` (a resumer's heartbeat); False,
        changing nothing, when ``token`` is not the latest claim, the claim was released,
        or the checkpoint is gone. The token stays the same."""

    def release(self, checkpoint_id: str, token: int) -> bool:
        """End the claim ``token`` (the run was parked again); False, changing nothing,
        when ``token`` is not the latest claim or the checkpoint is gone. (A holder whose
        work raised lets the claim lapse instead: ``renew(..., until=time.time())``, so
        the checkpoint is listed by `lapsed` and its next claim counts an attempt.)"""

    def delete(self, checkpoint_id: str, *, token: int | None = None) -> bool:
        """Forget the checkpoint (its run finished). With ``token``, only while that is the
        latest claim. True when a checkpoint was deleted."""

    def defer(self, checkpoint_id: str, *, until: float) -> bool:
        """Set the checkpoint's next attempt to ``until`` (unix seconds; a resume raised:
        now + `mm_assistants.state.backoff.retry_delay`), so `lapsed` skips it until then.
        False when there is no such checkpoint. The next `claim` clears it."""

    def lapsed(self, limit: int = 100) -> list[str]:
        """Checkpoints whose latest claim lapsed without a release or a delete (the worker
        resuming it, or a run that was dispatching a step, died), longest lapsed first, at
        most ``limit``: each is for a `claim` by another worker. One whose next attempt
        (`defer`) is still ahead is not listed until it is due."""


def check_checkpoint(checkpoint_id: str, record: bytes, format_version: int) -> None:
    """Refuse what no backend may store: `TypeError`/`ValueError` naming the argument
    (never the record's content)."""
    if not isinstance(checkpoint_id, str) or not checkpoint_id:
        raise ValueError("checkpoint_id must be a non-empty string")
    if not isinstance(record, (bytes, bytearray, memoryview)):
        raise TypeError(f"record must be bytes, not {type(record).__name__}")
    if isinstance(format_version, bool) or not isinstance(format_version, int):
        raise TypeError(f"format_version must be an int, not {type(format_version).__name__}")
    if format_version < 1:
        raise ValueError(f"format_version must be >= 1, not {format_version}")


def claim_holds(checkpoint: Checkpoint, now: float) -> bool:
    """Whether ``checkpoint``'s latest claim still holds at ``now``."""
    return checkpoint.claimed_until is not None and checkpoint.claimed_until > now
