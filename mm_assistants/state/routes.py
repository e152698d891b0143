"""Where the inbound router remembers threads, deliveries it has seen, and queued messages.

Three facts per MultiMail thread: the OpenAI side it maps to (an Assistants thread id, or
the last response id of a Responses chain), whether a run is driving it now (a *claim*),
and the messages that arrived meanwhile (the *queue*). Each change that must not race is
one atomic call: `RouteStore.admit` (seen-check, then queue or claim), `RouteStore.finish`
(take the queue, or drop the claim when it is empty) and `RouteStore.release` (give
messages back after a failure).

A claim older than ``lease`` seconds counts as abandoned (its worker died), so a restarted
router picks the thread up again with `RouteStore.stalled`. A claim carries a fencing token,
handed back with the claim itself (`Claimed.token` from `RouteStore.admit`,
`ClaimedMessages.token` from `RouteStore.claim`, the pair from `RouteStore.unpark`: never
read afterwards, when another worker may hold the thread already), that its holder renews
with `RouteStore.heartbeat` and passes to its later writes, so a worker that stalled past
its lease cannot take a queue, or move a conversation, that is no longer its own. A run
that parks (its held send is decided later, by a human) keeps its claim without a lease
(`RouteStore.park`) until a worker resumes it (`RouteStore.unpark`).

Work across a fleet of task workers (`mm_assistants.inbound.work`): the web process only
*enqueues* (`RouteStore.enqueue`: seen-check and queue, never a claim); a task claims. The
messages a claim takes stay in the store, marked as taken by that claim, until its holder
finishes (`finish`), parks (`park`) or gives them back (`release`): a worker that dies
mid-run loses nothing, because the claim that takes over its lapsed claim puts them back at
the head of the queue and counts an *attempt* (`RouteStore.attempts`); a finish or a park
resets the count. After too many lost workers the holder ends the thread's work as failed
(`RouteStore.fail`): its messages are kept aside for an operator (`RouteStore.failed`),
never looped. A take-over runs the lost claim's messages alone, so mail that arrived
meanwhile is not set aside with them: it runs next, as does new mail for a failed thread
(a sender who writes again is answered); the messages kept aside stay listed until an
operator acts. A thread whose run raised is not due again before its backoff ran out
(`RouteStore.backing_off`, `mm_assistants.state.backoff.retry_delay`): `stalled` skips it
until then, and new mail on it waits too (a run that raises on the thread would take the
new mail with it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol


class Claimed(str):
    """`RouteStore.admit` claimed the thread: equal to ``"claimed"`` (so ``admission ==
    "claimed"`` keeps working), and ``token`` is the fencing token of the claim taken in
    that same call.

    Example::

        admission = store.admit(key, "thr_1", message)
        if isinstance(admission, Claimed):
            store.finish("thr_1", token=admission.token)
    """

    token: int

    def __new__(cls, token: int) -> Claimed:
        claimed = super().__new__(cls, "claimed")
        claimed.token = token
        return claimed

    def __repr__(self) -> str:
        return f"Claimed(token={self.token})"

    def __getnewargs__(self) -> tuple[int]:  # type: ignore[override]  # copy/pickle rebuild from the token
        return (self.token,)


class ClaimedMessages(list["InboundMessage"]):
    """`RouteStore.claim` took the thread: its queued messages (a ``list``), ``token``, the
    fencing token of the claim taken in that same call, and ``attempts``, how many lost
    workers the thread's current work has had (this claim's take-over included)."""

    def __init__(self, messages: Iterable[InboundMessage], token: int, attempts: int = 0) -> None:
        super().__init__(messages)
        self.token = token
        self.attempts = attempts

    def __repr__(self) -> str:
        return f"ClaimedMessages({list(self)!r}, token={self.token}, attempts={self.attempts})"


#: What `RouteStore.admit` did with a delivery (a claim is a `Claimed`, with its token).
Admission = Literal["duplicate", "queued"] | Claimed
#: What `RouteStore.enqueue` did with a delivery.
Enqueued = Literal["duplicate", "queued"]
#: How long a claim lasts before it is taken for abandoned (runs wait up to ~10 minutes).
DEFAULT_LEASE = 900.0
#: The ``taken`` mark of a message a take-over recovered from a lost claim, for the
#: duration of the claim's transaction (no claim's token is 0).
RECOVERED = 0
#: How many delivery keys the memory store remembers.
DEFAULT_SEEN_LIMIT = 100_000


@dataclass(frozen=True)
class InboundMessage:
    """One inbound email as it will be posted to the model."""

    email_id: str
    text: str
    received_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class FailedThread:
    """A thread whose work `RouteStore.fail` ended: why, when (unix seconds), and the
    messages kept aside (never run again by the store; an operator decides)."""

    mm_thread: str
    reason: str
    failed_at: float
    messages: tuple[InboundMessage, ...] = ()

    def __repr__(self) -> str:
        # the messages are a stranger's words: their ids only
        ids = [m.email_id for m in self.messages]
        return f"FailedThread({self.mm_thread!r}, reason={self.reason!r}, emails={ids!r})"


class RouteStore(Protocol):
    """The router's memory; see the module docstring for the meaning of each call."""

    def target(self, mm_thread: str) -> str | None:
        """The OpenAI thread id / last response id of ``mm_thread``, or ``None``."""

    def set_target(self, mm_thread: str, target: str, *, token: int | None = None) -> bool:
        """Remember where ``mm_thread`` continues; with ``token`` only while that is the
        thread's claim (as for `finish`), so a worker that lost the thread cannot move the
        new owner's conversation. True when the target was written."""

    def seen(self, key: str) -> bool:
        """Whether the delivery ``key`` was admitted or held before."""

    def mark_seen(self, key: str) -> None:
        """Remember the delivery ``key`` without queueing anything (a held email)."""

    def admit(self, key: str, mm_thread: str, message: InboundMessage) -> Admission:
        """Atomically: ``duplicate`` if ``key`` was seen; else remember it and either queue
        ``message`` behind a live claim (``queued``) or claim the thread (a `Claimed`,
        equal to ``"claimed"``, carrying the new claim's token; the caller now owns
        ``message``)."""

    def enqueue(self, key: str, mm_thread: str, message: InboundMessage) -> Enqueued:
        """The receiver's admission, atomically: ``duplicate`` if ``key`` was seen; else
        remember it and queue ``message`` (``queued``), never claiming: a task claims
        (`claim`). A thread with something queued and no live claim is `stalled`."""

    def attempts(self, mm_thread: str) -> int:
        """How many workers the thread's current work has lost: each claim that takes over
        a lapsed claim counts one, and so does each `release` by the claim's holder (its
        run raised); `finish` and `park` reset the count."""

    def fail(self, mm_thread: str, token: int, reason: str) -> bool:
        """End the thread's current work as failed (after too many lost workers): the
        messages its claim took are kept aside (`failed`), the claim ``token`` is dropped
        and the attempts reset; mail queued since, not taken, stays queued and runs next
        (the thread is stalled). False, changing nothing, when ``token`` is not the
        thread's claim. ``reason`` is a short fixed text (no message content)."""

    def failed(self, *, limit: int = 100) -> list[FailedThread]:
        """Threads whose work failed, oldest first, with the messages kept aside."""

    def finish(self, mm_thread: str, *, token: int | None = None) -> list[InboundMessage]:
        """The run on ``mm_thread`` ended: take its queued messages (the claim stays, and
        the caller runs again), or drop the claim when nothing is queued. With ``token``
        only while that is the thread's live claim; else nothing changes and ``[]`` is
        returned (another worker took the thread over)."""

    def release(
        self, mm_thread: str, messages: list[InboundMessage], *, token: int | None = None
    ) -> None:
        """A run failed: put ``messages`` back at the head of the queue, drop the claim
        (with ``token``: only the claim ``token``). A ``token`` that is no longer the
        thread's claim gives back only the messages not queued already (a recovering
        claim put the taken ones back at its take-over). The holder's own release of a
        live claim counts an attempt, as a lost worker does (a run that raises every time
        ends ``failed`` instead of looping), sends the thread to the back of `stalled` (so
        such threads cannot keep the others out of a sweep), and sets its next attempt
        ``retry_delay(attempts)`` seconds away (`backing_off`)."""

    def backing_off(self, mm_thread: str) -> float:
        """Seconds until the thread is due again after its run raised (`release` by its
        holder; `mm_assistants.state.backoff.retry_delay` of its attempts), on the store's
        clock; 0.0 when it is due. A finish, a park or a `fail` clears it."""

    def token(self, mm_thread: str) -> int | None:
        """The fencing token of the thread's live claim (a parked claim included), or
        ``None``; for inspection. A claimer uses the token its claim came with (`Claimed`,
        `ClaimedMessages`, `unpark`): read here later, it may be another worker's. Tokens
        grow: each is larger than every earlier claim's token on any thread."""

    def heartbeat(self, mm_thread: str, token: int) -> bool:
        """Renew the claim ``token`` for another ``lease``; False when it is no longer the
        thread's claim (the caller must stop: another worker owns the thread)."""

    def park(self, mm_thread: str, token: int, checkpoint_id: str) -> bool:
        """The run on ``mm_thread`` parked as ``checkpoint_id``: its claim ``token`` stays,
        without a lease, so messages arriving meanwhile are queued and `stalled` skips the
        thread. False, changing nothing, when ``token`` is not the live claim."""

    def parked(self, mm_thread: str) -> str | None:
        """The checkpoint id of the thread's parked run, or ``None``."""

    def unpark(self, mm_thread: str, checkpoint_id: str) -> tuple[int, list[InboundMessage]] | None:
        """A worker resumes the parked run ``checkpoint_id``: the claim becomes a live one
        with a fresh token and lease, and the messages queued meanwhile are taken (they
        follow the resumed outputs). ``None`` when the thread is not parked as
        ``checkpoint_id`` (another worker resumed it already)."""

    def stalled(self, limit: int | None = None) -> list[str]:
        """Threads with queued messages and no live claim (after a failure or restart),
        or whose lapsed claim still holds taken messages (its worker died mid-run); at
        most ``limit`` (all by default). A thread whose run was just released comes after
        those waiting longer, and is not listed before its backoff ran out
        (`backing_off`)."""

    def claim(self, mm_thread: str, *, recover: bool = False) -> ClaimedMessages | None:
        """Claim a stalled thread: its queued messages with the new claim's token, or
        ``None`` if it is claimed. With ``recover`` (a fleet task), taking over a lapsed
        claim takes that claim's taken messages, alone (mail queued meanwhile waits for
        the next run, so a poisoned batch never takes later mail with it into `fail`),
        and counts an attempt (`ClaimedMessages.attempts`); without it (the router's
        `drain`), they stay with the lapsed claim's holder, which may still be running
        them."""


def check_lease(lease: float) -> float:
    """``lease`` if it is a positive number of seconds; else `ValueError` (a store is
    misconfigured, not a model's mistake)."""
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
        raise ValueError(f"lease is a number of seconds and must be positive, not {lease!r}")
    return float(lease)
