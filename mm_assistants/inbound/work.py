"""Fleet work in plain functions any task queue can call: `FleetWork`.

The rule: PostgreSQL (the stores) is the system of record, the task queue only rings the
doorbell. Each primitive takes a key (a MultiMail thread id, a request key, a checkpoint
id), never a payload to trust, and is idempotent by that key: a task delivered twice, late,
or after its worker died does no harm, and `FleetWork.sweep` finds whatever no doorbell
announced. Which queue rings (Celery: `mm_assistants.celery`; arq, Dramatiq, RQ: a few
lines) is the caller's choice::

    work = FleetWork(router, pending=state.pending, checkpoints=state.checkpoints,
                     decisions=state.decisions)
    # web process, after verifying the webhook and before answering 2xx:
    admitted = work.admit(event)
    if admitted.mm_thread is not None:
        queue.enqueue("route_inbound", admitted.mm_thread)   # best effort
    # worker tasks:
    work.route_inbound(mm_thread); work.resume_run(checkpoint_id)
    plan = work.sweep()   # on a timer, and when a worker starts: re-ring what it lists

Only a task claims a thread, never the web process. A claim is a lease renewed by a
heartbeat (the router's machinery); a task that finds a live claim exits at once (``busy``).
A worker that dies mid-run leaves its messages in the store, marked as taken by its claim;
the claim that takes over once the lease lapsed puts them back and counts an attempt, and
after ``max_attempts`` lost workers the thread's work ends ``failed`` (acknowledged, kept
aside for an operator: `RouteStore.failed`), never looped. Runs that wait for a person park
(a Responses driver with ``checkpoints=`` and ``ApprovalPolicy(park_after=...)``) and hold
no worker; Assistants runs keep waiting in their worker.

Work that raised backs off instead of being retried at once: a thread whose run raised, and
a parked run whose resume (or re-attach) raised, is not due again for
`mm_assistants.state.backoff.retry_delay` of its attempts (5 s, 10 s, 20 s, ... at most
300 s). The moment lives in the stores (``next_attempt_at``), which `FleetWork.sweep` reads,
so no task needs a countdown or an ETA; a doorbell that rings early (new mail on the
thread, a decision, a redelivered task) gets ``busy`` and the sweep rings again once it is
due. New mail waits out a thread's backoff too: the run that raises would take it along.

Everything here is blocking: Celery's prefork pool, RQ and Dramatiq workers are threads or
processes, so a sync API is enough (an asyncio queue such as arq calls it with
``asyncio.to_thread``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mm_assistants.drivers import RunOutcome, parking
from mm_assistants.inbound.fleet import ResumeResult
from mm_assistants.inbound.router import InboundRouter
from mm_assistants.inbound.routing import RouteResult
from mm_assistants.state import CheckpointStore, DecisionStore, InboundMessage, PendingStore
from mm_assistants.state.backoff import retry_delay
from mm_assistants.webhooks.events import WebhookEvent

logger = logging.getLogger("mm_assistants.inbound.work")

#: How many workers a thread's work may lose before it ends ``failed``.
DEFAULT_MAX_ATTEMPTS = 3
#: Seconds a task holds the checkpoint of a run it ends (`FleetWork.resume_run`).
END_LEASE = 60.0
#: The prefix of the MultiMail-thread-like key of an explicit run request.
REQUEST_PREFIX = "request:"
#: The ``reason`` of a ``busy`` answer for work whose last attempt raised and is not due.
BACKING_OFF = "backing off: its last attempt raised"


@dataclass(frozen=True)
class WorkAdmission(RouteResult):
    """What `FleetWork.admit` did: a `RouteResult` whose ``mm_thread`` is the key to ring
    (the thread now has queued work), or ``None`` when there is nothing to do."""

    @property
    def mm_thread(self) -> str | None:
        """The thread to hand to `FleetWork.route_inbound`, or ``None``."""
        return self.mm_thread_id if self.action == "queued" else None


@dataclass(frozen=True)
class SweepPlan:
    """What `FleetWork.sweep` found to (re-)enqueue: ``threads`` for `FleetWork.route_inbound`
    and ``checkpoints`` for `FleetWork.resume_run`; no duplicates, at most ``limit`` keys."""

    threads: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.threads) + len(self.checkpoints)


def plan_sweep(
    threads: Iterable[str], checkpoints: Iterable[Iterable[str]], limit: int
) -> SweepPlan:
    """The sweep's keys (pure): ``threads`` first (new mail waits longest behind nothing),
    then each group of checkpoints in order, duplicates dropped, ``limit`` keys at most."""
    plan = SweepPlan()
    for thread in threads:
        if len(plan) >= limit:
            return plan
        if thread not in plan.threads:
            plan.threads.append(thread)
    for group in checkpoints:
        for checkpoint in group:
            if len(plan) >= limit:
                return plan
            if checkpoint not in plan.checkpoints:
                plan.checkpoints.append(checkpoint)
    return plan


def decided_checkpoints(held: Iterable[tuple[str, str]], decisions: dict[str, Any]) -> list[str]:
    """Checkpoints all of whose held emails are decided (pure). ``held``: ``(checkpoint_id,
    email_id)`` pairs of the pending records of parked runs; ``decisions``: the records the
    decision store keeps, by email id. The store keeps only records that decide (the
    approval hub records nothing else: `mm_assistants.approvals.watch.decisive`), so a kept
    record is a decision; whether it may be resumed on is the resume's own check."""
    waiting: dict[str, bool] = {}
    for checkpoint, email_id in held:
        decided = isinstance(decisions.get(email_id), Mapping)
        waiting[checkpoint] = waiting.get(checkpoint, True) and decided
    return [checkpoint for checkpoint, all_decided in waiting.items() if all_decided]


class FleetWork:
    """The fleet's work primitives over an `InboundRouter` (see the module docstring).

    ``router``: a blocking `InboundRouter` on shared stores (`PostgresState`), its driver
    parking (Responses with ``checkpoints=``) so no worker waits for a person;
    ``pending``/``checkpoints``/``decisions``: the stores `sweep` reads to find parked runs
    whose held emails are decided and resumes whose worker died; ``max_attempts``: lost
    workers after which a thread's work ends ``failed``.
    """

    def __init__(
        self,
        router: InboundRouter,
        *,
        pending: PendingStore,
        checkpoints: CheckpointStore,
        decisions: DecisionStore,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts is a whole number of at least 1, not {max_attempts!r}")
        if getattr(router, "background", False):
            raise ValueError("FleetWork drives runs in its caller (a task): background=False")
        self.router = router
        self.store = router.store
        self.pending = pending
        self.checkpoints = checkpoints
        self.decisions = decisions
        self.max_attempts = max_attempts

    def __repr__(self) -> str:
        return f"FleetWork({self.router!r}, max_attempts={self.max_attempts})"

    def admit(self, event: WebhookEvent) -> WorkAdmission:
        """The web process's part, after the webhook was verified: the router's checks
        (screen, duplicate, trust gate, flood limits; a held email is tagged) and the
        admission (seen + queued, one transaction), never a claim. Ring ``.mm_thread``
        after answering MultiMail, best effort: `sweep` finds an admission no bell rang."""
        gated = self.router.gate(event)
        if isinstance(gated, RouteResult):
            return WorkAdmission(gated.action, gated.email_id, gated.mm_thread_id, gated.reason)
        admitted, message = gated
        email, thread = admitted.email_id, admitted.mm_thread_id
        if self.store.enqueue(admitted.key, thread, message) == "duplicate":
            return WorkAdmission("duplicate", email, thread)
        return WorkAdmission("queued", email, thread)

    def request_run(self, key: str, text: str, *, thread: str | None = None) -> str:
        """Ask for a run on ``text`` outside email (a form, a schedule), once per ``key``:
        queued on ``thread`` (a conversation of its own by default, ``request:<key>``).
        Returns the key to ring (`start_run` / `route_inbound`); a repeat of ``key``
        queues nothing and returns the same key."""
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        route = thread if thread is not None else REQUEST_PREFIX + key
        message = InboundMessage(email_id=REQUEST_PREFIX + key, text=text)
        self.store.enqueue(REQUEST_PREFIX + key, route, message)
        return route

    def route_inbound(self, key: str) -> RouteResult:
        """A task: run what is queued on the thread ``key``. Claims it (``busy`` at once
        when a live claim holds it, or it is parked waiting for a decision), drives the
        queue to the end (finished, parked, or the claim lost), and ends the work
        ``failed`` once ``max_attempts`` workers were lost on it. A resume whose worker
        died is resumed (`resume_run`), never run beside. A thread whose run raised is
        ``busy`` (`BACKING_OFF`) until its backoff ran out, new mail or not; the sweep
        lists it then. Idempotent: with nothing queued it does nothing (``ignored``)."""
        parked = self.store.parked(key)
        if parked is not None:
            if self.store.token(key) is not None:
                return RouteResult("busy", mm_thread_id=key, reason="parked for a decision")
            return _routed(key, self._resume(parked))  # its resumer died
        dead = self._dead_run(key)
        if dead is not None:
            # Its worker died (or its drive raised) mid-dispatch: re-attach to that run
            # (same call ids, so a send is not made twice). Driving the mail again would
            # start a second run beside it.
            return _routed(key, self._resume(dead))
        if self.store.backing_off(key) > 0:
            return RouteResult("busy", mm_thread_id=key, reason=BACKING_OFF)
        claimed = self.store.claim(key, recover=True)
        if claimed is None:
            return RouteResult("busy", mm_thread_id=key, reason="another worker holds it")
        token = claimed.token
        if claimed.attempts >= self.max_attempts:
            reason = f"{claimed.attempts} workers were lost on it"
            if self.store.fail(key, token, reason):
                logger.error("inbound thread %s: failed, %s; its mail is kept aside", key, reason)
                return RouteResult("failed", mm_thread_id=key, reason=reason)
            return RouteResult("busy", mm_thread_id=key, reason="another worker holds it")
        if not claimed:
            self.store.finish(key, token=token)
            return RouteResult("ignored", mm_thread_id=key, reason="nothing queued")
        try:
            outcomes = self.router.drive(key, list(claimed), token)
        except Exception:
            # with a tool call in flight the run lapsed its checkpoint (re-attached, never
            # run again from the mail): that re-attach backs off as a resume does
            dead = self._dead_run(key)
            if dead is not None:
                self._back_off(dead)
            raise
        return RouteResult("started", claimed[0].email_id, key, outcomes=tuple(outcomes))

    def start_run(self, key: str) -> RouteResult:
        """A task for an explicit request: `route_inbound` of the key `request_run`
        returned."""
        return self.route_inbound(key)

    def resume_run(self, checkpoint_id: str) -> ResumeResult:
        """A task: resume the parked run ``checkpoint_id`` (`InboundRouter.resume`);
        ``parked`` while a held send is still undecided, ``busy`` or ``not_parked`` while
        another worker resumes it (if that worker dies, `sweep` lists the checkpoint again
        once its claim lapsed), ``not_parked`` when it is done already: each is safe to
        repeat. A run
        that lost ``max_attempts`` claims (its workers died, or its drives raised), or
        whose checkpoint this release cannot resume (other tools or mailbox scope), is
        ended instead: ``gone`` with a ``failed`` outcome, its held sends handed to the
        late-decision path, its thread's work ``failed`` (listed by `RouteStore.failed`
        with the reason). A run whose last resume raised is ``busy`` (`BACKING_OFF`) until
        its backoff (`CheckpointStore.defer`) ran out; the sweep lists it then."""
        return self._resume(checkpoint_id)

    def sweep(self, *, limit: int = 100) -> SweepPlan:
        """What to (re-)enqueue, read-mostly and idempotent: threads with admitted but
        unclaimed work or a lapsed claim (`RouteStore.stalled`, a thread whose run just
        raised last), parked runs whose held emails are all decided or that were parked
        longer than `parking.MAX_PARK_SECONDS` (their resume falls back to the
        late-decision message and frees the thread), and checkpoints whose claim lapsed (a
        resumer, or a run mid-dispatch, died or raised). Work whose last attempt raised is
        left out until its backoff ran out (``next_attempt_at`` in the stores). Run it on a
        timer and when a worker starts."""
        if limit < 1:
            return SweepPlan()
        threads = self.store.stalled(limit)
        return plan_sweep(threads, [self._decided(), self.checkpoints.lapsed(limit)], limit)

    def _dead_run(self, key: str) -> str | None:
        """The checkpoint a dead worker's run on thread ``key`` left with a lapsed claim
        (it died, or its drive raised, with tool calls in flight), or ``None``
        (`InboundRouter.dead_run`). Give the driver a ``checkpoint_lease`` at most half the
        route store's lease, so a dead run's checkpoint lapses before its thread's claim
        does."""
        return self.router.dead_run(key)

    def _resume(self, checkpoint_id: str) -> ResumeResult:
        """`InboundRouter.resume`, unless the run is poisoned or unresumable (see
        `resume_run`): a run that kills its worker is never handed to a new one forever."""
        found = self.checkpoints.get(checkpoint_id)
        now = time.time()
        lost = 0 if found is None else found.lost_claims(now)
        if lost >= self.max_attempts:
            return self._end_run(checkpoint_id, f"{lost} claims on its run were lost")
        if found is not None and not found.due(now):
            return ResumeResult("busy", checkpoint_id=checkpoint_id, reason=BACKING_OFF)
        try:
            return self.router.resume(checkpoint_id)
        except parking.CheckpointError:
            # the thread was parked on it again (`_resume_failed`): it would be listed,
            # and fail, at every sweep, and hold its thread's mail for good
            return self._end_run(
                checkpoint_id, "this release cannot resume its checkpoint (tools or scope)"
            )
        except Exception:
            self._back_off(checkpoint_id)
            raise

    def _back_off(self, checkpoint_id: str) -> None:
        """The resume (or re-attach) of ``checkpoint_id`` raised: it is not due again for
        `retry_delay` of the claims lost on it (this one included)."""
        found = self.checkpoints.get(checkpoint_id)
        if found is None:
            return  # finished or ended meanwhile: nothing to come back to
        now = time.time()
        wait = retry_delay(max(1, found.lost_claims(now)))
        self.checkpoints.defer(checkpoint_id, until=now + wait)

    def _end_run(self, checkpoint_id: str, why: str) -> ResumeResult:
        """End the run ``checkpoint_id`` for good: its held sends go to the late-decision
        path, the checkpoint is deleted, and its thread's work ends ``failed`` (an
        operator lists it with `RouteStore.failed`)."""
        claim = self.checkpoints.claim(checkpoint_id, until=time.time() + END_LEASE)
        if claim is None:
            gone = self.checkpoints.get(checkpoint_id) is None
            return ResumeResult("gone" if gone else "busy", checkpoint_id=checkpoint_id)
        mm_thread = self.router.checkpoint_thread(checkpoint_id)
        self._late_path(claim.checkpoint.record, claim.checkpoint.format_version)
        self.checkpoints.delete(checkpoint_id, token=claim.token)
        reason = f"run {checkpoint_id} ended: {why}"
        if mm_thread is not None:
            self._fail_thread(mm_thread, checkpoint_id, reason)
        # ids and a fixed text only: a checkpoint holds a stranger's words
        logger.error("inbound thread %s: %s", mm_thread, reason)
        outcome = RunOutcome(status="failed", checkpoint_id=checkpoint_id)
        outcome.incomplete_reason = why
        return ResumeResult("gone", mm_thread, checkpoint_id, reason, outcomes=(outcome,))

    def _late_path(self, record: bytes, format_version: int) -> None:
        """The held sends of an ended run: their decisions take the late-decision path
        (no resume will hand them to the model)."""
        try:
            checkpoint = parking.decode(record, format_version)
        except parking.CheckpointError:
            return  # unreadable here: nothing can be known about its held sends
        for call in checkpoint.held():
            found = None if call.held is None else self.pending.get(call.held.email_id)
            if found is not None and found.checkpoint_id is not None:
                self.pending.add(replace(found, checkpoint_id=None, waiting_until=None, owner=None))

    def _fail_thread(self, mm_thread: str, checkpoint_id: str, reason: str) -> None:
        """End the work of ``mm_thread`` whose run ``checkpoint_id`` was ended: parked on
        it, resumed by a worker that died, or claimed by one that died mid-run."""
        token: int | None
        if self.store.parked(mm_thread) == checkpoint_id:
            token = self.store.token(mm_thread)  # the parked claim; None: a lapsed resume
            if token is None:
                taken = self.store.unpark(mm_thread, checkpoint_id)
                token = None if taken is None else taken[0]
        else:
            claimed = self.store.claim(mm_thread, recover=True)
            token = None if claimed is None else claimed.token
        if token is not None:
            self.store.fail(mm_thread, token, reason)

    def _decided(self) -> list[str]:
        """Parked runs whose held emails the decision store shows all decided, then those
        parked longer than OpenAI keeps a response (`parking.MAX_PARK_SECONDS`): nobody
        decided, and their resume falls back (the late-decision message) and frees the
        thread, whose later mail would otherwise wait for good."""
        held, expired = [], []
        now = time.time()
        for record in self.pending.all():
            # resume_target: the checkpoint a record was marked with, or the one its
            # response's step has (a park whose marking never happened), if it exists
            checkpoint = parking.resume_target(record)
            if checkpoint is None or not (
                record.checkpoint_id or self.checkpoints.get(checkpoint) is not None
            ):
                continue
            held.append((checkpoint, record.email_id))
            # recorded before the park: listed a little early at worst (it parks again)
            if now - record.recorded_at > parking.MAX_PARK_SECONDS:
                expired.append(checkpoint)
        if not held:
            return []
        found = self.decisions.get_many({email for _, email in held})
        decided = decided_checkpoints(held, {k: dict(v) for k, v in found.items()})
        listed = decided + [c for c in dict.fromkeys(expired) if c not in decided]
        return [c for c in listed if self._due(c, now)]

    def _due(self, checkpoint_id: str, now: float) -> bool:
        """Whether ``checkpoint_id`` may be resumed at ``now``: its last resume did not
        raise, or its backoff ran out (a checkpoint gone is for its resume to report)."""
        found = self.checkpoints.get(checkpoint_id)
        return found is None or found.due(now)


def _routed(key: str, resumed: ResumeResult) -> RouteResult:
    """A resume's result as `route_inbound` reports it."""
    if resumed.action == "busy":
        return RouteResult("busy", mm_thread_id=key, reason="another worker resumes it")
    return RouteResult(
        "started", mm_thread_id=key, reason=f"resume: {resumed.action}", outcomes=resumed.outcomes
    )
