"""Parked Responses runs, the store side both Responses drivers share (no OpenAI I/O).

`Parking` writes and claims the checkpoints `drivers.parking` describes, and keeps the
pending approvals of held sends in step with them; `Lease` is one claim on one checkpoint,
renewed by a `mm_assistants.state.heartbeat.Heartbeat` while a drive holds it. The loops
in `drivers.responses` do the OpenAI and MultiMail I/O (sync or async) and call these.

The order of writes is what makes a crash cost time, never a duplicate:

1. a step's checkpoint (``dispatching``: every call id) is stored and claimed *before* any
   call is sent, so whoever takes over re-dispatches the same call ids, hence the same
   idempotency keys;
2. when a held send is still undecided after ``park_after``, the finished outputs and the
   held sends are written (``parked``) with the claim's fencing token, the pending records
   are marked with the checkpoint id (their decision goes to the resume, not to a
   late-decision message) and the claim is released: nothing runs any more;
3. a resume claims the checkpoint, submits every output and records ``submitted`` with
   the new response id (fenced) before it goes on; only the next step's checkpoint
   replaces it. A resumer that loses its claim (its heartbeat fails, or a write is refused
   because a later claim exists) stops touching the run.

Claims are leases of `LEASE_SECONDS` (``checkpoint_lease=`` of the drivers), renewed every
third of it. `CheckpointStore` has no ``renew`` yet: a store without one is renewed by
releasing and re-claiming (a new, larger token; a rival that claims in that instant wins
and this drive stops). A store with ``renew(checkpoint_id, token, until=)`` is used as is.

One window is left open: between the dispatcher recording a still-held send (``settle``)
and `Parking.park` marking its record with the checkpoint id, a resolver running at that
very moment may deliver a decision made in that instant as a late-decision message too;
the resume then also hands it to the model as the call's output (told twice, never lost).
The store calls are synchronous; the async driver makes them on its event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from mm_assistants.approvals import ApprovalOutcome, ApprovalPolicy
from mm_assistants.approvals.watch import DECISIVE, decisive, outcome_from_email
from mm_assistants.dispatch import ToolCall, ToolResult
from mm_assistants.dispatch.calls import CallContext
from mm_assistants.dispatch.shaping import bound_output
from mm_assistants.drivers import parking
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.parking import HeldSend, ParkedCall, RunCheckpoint
from mm_assistants.state import CheckpointClaim, CheckpointStore, PendingRecord, PendingStore
from mm_assistants.state.heartbeat import Heartbeat

log = logging.getLogger(__name__)

#: How long a claim on a checkpoint holds without renewal; renewed every third of it.
LEASE_SECONDS = 60.0


class Lease:
    """One claim on one checkpoint: fenced writes, renewal on a heartbeat, and its end
    (`finish` deletes the checkpoint, `release` leaves it for the next resumer)."""

    def __init__(self, store: CheckpointStore, claim: CheckpointClaim, seconds: float) -> None:
        self.store = store
        self.checkpoint_id = claim.checkpoint.checkpoint_id
        self.token = claim.token
        self.seconds = seconds
        self._lock = threading.Lock()  # a write never runs beside a renewal
        self._beat = Heartbeat(self._renew, every=seconds / 3).start()

    def __repr__(self) -> str:
        return f"Lease({self.checkpoint_id!r}, token={self.token}, lost={self.lost})"

    @property
    def lost(self) -> bool:
        """Whether the claim may belong to someone else now."""
        return self._beat.lost.is_set()

    def _renew(self) -> bool:
        with self._lock:
            # the same token, a later end: never released and re-taken, which would open a
            # gap in which another resumer could take the checkpoint
            until = time.time() + self.seconds
            return self.store.renew(self.checkpoint_id, self.token, until=until)

    def put(self, checkpoint: RunCheckpoint) -> bool:
        """Write ``checkpoint`` while the claim is ours; False (nothing written) if not."""
        with self._lock:
            if self.lost:
                return False
            return self.store.put(
                self.checkpoint_id,
                parking.encode(checkpoint),
                format_version=parking.FORMAT_VERSION,
                token=self.token,
            )

    def release(self) -> None:
        """Stop renewing and end the claim (the checkpoint stays for the next resumer)."""
        self._beat.close()
        with self._lock:
            self.store.release(self.checkpoint_id, self.token)

    def lapse(self) -> None:
        """Stop renewing and let the claim lapse now, checkpoint kept (the drive raised).
        Unlike `release`, a lapsed claim is listed by `CheckpointStore.lapsed`, so a sweep
        finds the run and a new worker re-attaches to it (same call ids: no send twice),
        and its next claim counts an attempt (a run that raises every time ends)."""
        self._beat.close()
        with self._lock:
            # a renewal to "now" ends the claim, fenced by the token: a claim taken over
            # meanwhile is left alone
            self.store.renew(self.checkpoint_id, self.token, until=time.time())

    def finish(self) -> None:
        """Stop renewing and delete the checkpoint (its step is over), if still ours."""
        self._beat.close()
        with self._lock:
            self.store.delete(self.checkpoint_id, token=self.token)


class Parking:
    """The checkpoint side of one Responses driver: its store, the wait before a park,
    its fingerprint (tools and scope), and the pending approvals it keeps in step."""

    def __init__(
        self,
        store: CheckpointStore,
        policy: ApprovalPolicy,
        dispatcher: Any,
        clock: Callable[[], float],
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.store = store
        self.policy = policy
        self.dispatcher = dispatcher
        self.clock = clock
        self.lease_seconds = lease_seconds
        #: The wait of a step that may park: ``park_after`` long (None: this driver only
        #: resumes, and waits as the policy says).
        self.wait_policy = (
            policy
            if policy.park_after is None
            else replace(policy, max_wait=policy.park_after, park_after=None)
        )
        self.fingerprint = parking.Fingerprint(
            registry=str(getattr(dispatcher.registry, "version", "")),
            tools_sha256=parking.tools_digest(dispatcher.tool_definitions("responses")),
            scope=parking.scope_of(dispatcher.mailbox_id, dispatcher.allowed_mailboxes),
        )

    def __repr__(self) -> str:
        return f"Parking(park_after={self.policy.park_after!r}, store={self.store!r})"

    @property
    def parks(self) -> bool:
        """Whether new steps are checkpointed and may park (``park_after`` is set)."""
        return self.policy.park_after is not None

    # -- a step ---------------------------------------------------------------------------

    def open_step(
        self,
        response_id: str,
        calls: Sequence[ToolCall],
        *,
        request: Mapping[str, Any],
        meta: Mapping[str, Any],
        steps: int,
    ) -> tuple[RunCheckpoint, Lease] | None:
        """Store and claim the ``dispatching`` checkpoint of a step before any call of it
        is sent; ``None`` when a checkpoint of that response exists already (another
        process got there first: it is theirs)."""
        registry = self.dispatcher.registry
        entries = [
            (
                call.id,
                call.name,
                call.arguments,
                call.name in registry and registry[call.name].gated,
            )
            for call in calls
        ]
        checkpoint = parking.first_checkpoint(
            response_id,
            entries,
            request=request,
            fingerprint=self.fingerprint,
            meta=meta,
            steps=steps,
            now=self.clock(),
        )
        if self.store.get(checkpoint.checkpoint_id) is not None:
            return None
        self.store.put(
            checkpoint.checkpoint_id,
            parking.encode(checkpoint),
            format_version=parking.FORMAT_VERSION,
        )
        lease = self.claim_lease(checkpoint.checkpoint_id)
        return None if lease is None else (checkpoint, lease)

    def claim_lease(self, checkpoint_id: str) -> Lease | None:
        """Claim ``checkpoint_id`` for a lease, or ``None`` (gone, or claimed)."""
        claim = self.store.claim(checkpoint_id, until=time.time() + self.lease_seconds)
        return None if claim is None else Lease(self.store, claim, self.lease_seconds)

    def claim(self, checkpoint_id: str) -> tuple[RunCheckpoint, Lease] | str:
        """Claim a checkpoint to resume it: (checkpoint, lease), or ``"gone"``/``"busy"``.
        Raises `parking.CheckpointError` (claiming nothing) when this driver cannot resume
        it: another format, other tools or another mailbox scope."""
        found = self.store.get(checkpoint_id)
        if found is None:
            return "gone"
        parking.check_fingerprint(
            parking.decode(found.record, found.format_version), self.fingerprint
        )
        claim = self.store.claim(checkpoint_id, until=time.time() + self.lease_seconds)
        if claim is None:
            return "gone" if self.store.get(checkpoint_id) is None else "busy"
        lease = Lease(self.store, claim, self.lease_seconds)
        try:
            checkpoint = parking.decode(claim.checkpoint.record, claim.checkpoint.format_version)
        except BaseException:
            lease.release()
            raise
        return checkpoint, lease

    def tool_calls(
        self, checkpoint: RunCheckpoint, calls: Sequence[ParkedCall], deadline: float | None
    ) -> list[ToolCall]:
        """The calls to dispatch again, with the step's response id in their context: the
        same ids, hence the same idempotency keys as their first attempt."""
        context = CallContext(response_id=checkpoint.response_id, deadline=deadline)
        return [ToolCall(c.call_id, c.name, c.arguments, context) for c in calls]

    def after_dispatch(
        self, checkpoint: RunCheckpoint, results: Sequence[ToolResult], *, hold: bool = True
    ) -> RunCheckpoint:
        """``checkpoint`` with the outputs of ``results``; with ``hold``, a send still
        undecided is recorded as held instead (`RunCheckpoint.held`)."""
        outputs: dict[str, str] = {}
        held: dict[str, HeldSend] = {}
        for result in results:
            pending = result.pending
            if hold and pending is not None and undecided(result):
                held[result.call_id] = HeldSend(pending.email_id, pending.mailbox_id)
            else:
                outputs[result.call_id] = result.output
        return parking.with_outputs(checkpoint, outputs, held)

    def park(self, lease: Lease, checkpoint: RunCheckpoint, outcome: RunOutcome) -> RunOutcome:
        """Store the parked checkpoint, hand its held sends' records to the resume, end
        the claim: ``outcome`` becomes ``parked`` (or ``busy`` if the claim was lost)."""
        written = lease.put(checkpoint)
        lease.release()
        if not written:
            return lost(outcome, checkpoint.checkpoint_id)
        for call in checkpoint.held():
            self._mark(call, checkpoint, checkpoint.checkpoint_id)
        outcome.status = "parked"
        outcome.checkpoint_id = checkpoint.checkpoint_id
        return outcome

    # -- decisions ------------------------------------------------------------------------

    @property
    def reads_hub(self) -> bool:
        """Whether the dispatcher's approval hub can tell a decision (``current``)."""
        return callable(getattr(self.dispatcher.approval_hub, "current", None))

    def hub_decision(self, email_id: str) -> Mapping[str, Any] | None:
        """The decision the dispatcher's approval hub knows of, if it can tell (``current``)."""
        current = getattr(self.dispatcher.approval_hub, "current", None)
        if not callable(current):
            return None
        try:
            data = current(email_id)
        except Exception:  # noqa: BLE001 -- an unreadable hub means "ask MultiMail"
            log.warning("parked run: the approval hub could not be read; asking MultiMail")
            return None
        return data if isinstance(data, Mapping) and decisive(data) else None

    def decided(
        self, call: ParkedCall, email: Mapping[str, Any] | None, woken_by: str
    ) -> ToolResult | None:
        """The held ``call``'s result from its email's record (``None``: not decided)."""
        if email is None or call.held is None or not decisive(email):
            return None
        outcome = outcome_from_email(
            call.held.email_id,
            email,
            waited=max(0.0, self.clock() - call.first_attempt_at),
            status_checks=0 if woken_by == "hub" else 1,
            woken_by=woken_by,
        )
        output, truncated = bound_output(outcome.as_output(), self.dispatcher.max_output_chars, "")
        return ToolResult(
            call.call_id,
            call.name,
            output,
            ok=True,
            mailbox_id=call.held.mailbox_id,
            truncated=truncated,
            approval=outcome,
        )

    def outputs(
        self, checkpoint: RunCheckpoint, decided: Mapping[str, ToolResult]
    ) -> list[dict[str, str]]:
        """Every ``function_call_output`` of the step, in the calls' order."""
        items = []
        for call in checkpoint.calls:
            text = decided[call.call_id].output if call.call_id in decided else call.output
            items.append(
                {"type": "function_call_output", "call_id": call.call_id, "output": text or ""}
            )
        return items

    def delivered(self, checkpoint: RunCheckpoint, decided: Mapping[str, ToolResult]) -> None:
        """After the submit: a settled decision's record goes; any other is handed back to
        the late-decision path (its last word is still to come)."""
        pending = self._pending_store()
        if pending is None:
            return
        for call in checkpoint.held():
            result = decided.get(call.call_id)
            if result is None or call.held is None:
                continue
            approval: ApprovalOutcome | None = result.approval
            if approval is not None and approval.settled:
                pending.remove(call.held.email_id)
            else:
                self._mark(call, checkpoint, None)

    def fall_back(
        self, lease: Lease, checkpoint: RunCheckpoint, outcome: RunOutcome, reason: str
    ) -> RunOutcome:
        """The run cannot go on (parked too long, or its response is gone at OpenAI): the
        held sends' decisions take the late-decision path (`resolve_pending`) and the
        checkpoint is deleted. ``outcome`` ends ``expired`` with ``reason``."""
        for call in checkpoint.held():
            self._mark(call, checkpoint, None)
        lease.finish()
        log.warning("parked run %s cannot resume (%s)", checkpoint.checkpoint_id, reason)
        outcome.status = "expired"
        outcome.incomplete_reason = reason
        outcome.checkpoint_id = checkpoint.checkpoint_id
        return outcome

    def _pending_store(self) -> PendingStore | None:
        store: PendingStore | None = getattr(self.dispatcher, "approval_store", None)
        return store

    def _mark(self, call: ParkedCall, checkpoint: RunCheckpoint, checkpoint_id: str | None) -> None:
        pending = self._pending_store()
        if pending is None or call.held is None:
            return
        record = pending.get(call.held.email_id) or PendingRecord(
            email_id=call.held.email_id,
            mailbox_id=call.held.mailbox_id,
            call_id=call.call_id,
            tool=call.name,
            response_id=checkpoint.response_id,
        )
        pending.add(replace(record, checkpoint_id=checkpoint_id, waiting_until=None, owner=None))


def undecided(result: ToolResult) -> bool:
    """Whether ``result`` is a send still held for a human (its wait decided nothing)."""
    return result.pending is not None and (
        result.approval is None or result.approval.decision not in DECISIVE
    )


def lost(outcome: RunOutcome, checkpoint_id: str) -> RunOutcome:
    """``outcome`` of a drive whose claim another resumer took: ``busy``."""
    log.warning("parked run %s: the claim was lost to another resumer", checkpoint_id)
    outcome.status = "busy"
    outcome.checkpoint_id = checkpoint_id
    return outcome
