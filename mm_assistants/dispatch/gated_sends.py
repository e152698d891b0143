"""What follows a gated send's answer: whether the send is held for a human (`pending_of`),
how that is recorded for a later decision (`pending_record`), what to do with a retry
answered ``already_sent`` (`replayed`, `with_real_status`, `replay_outcome`), whose first
answer was lost and whose email may still be held, and the approval wait's plan and
outcome (`GatedSendSteps`, the part of `DispatcherCore` that keeps the pending store).

The functions are pure; `GatedSendSteps` only adds the dispatcher's policy, clock and
store. The waiting itself is `mm_assistants.approvals.waiter`'s, driven by the shells.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from mm_assistants.approvals import ApprovalOutcome, ApprovalPolicy, PendingRecord, PendingStore
from mm_assistants.approvals.watch import PENDING_STATUSES, outcome_from_email
from mm_assistants.dispatch.calls import PendingApproval, ToolCall, ToolResult
from mm_assistants.dispatch.plans import ApprovalPlan, PreparedCall
from mm_assistants.dispatch.shaping import bound_output
from mm_assistants.state import current_owner
from mm_assistants.tools.ids import is_plausible_id

#: How long past its deadline a wait keeps its pending record (time to submit its output).
WAIT_GRACE = 30.0


def pending_of(prepared: PreparedCall, data: Any) -> PendingApproval | None:
    """The approval a gated send's answer ``data`` waits for, or ``None`` when the send is
    not held (or the tool is not a gated send)."""
    if not prepared.spec.gated or not isinstance(data, dict):
        return None
    status = data.get("status")
    email_id = data.get("id")
    if status not in PENDING_STATUSES or not isinstance(email_id, str):
        return None
    return PendingApproval(
        email_id=email_id,
        mailbox_id=prepared.mailbox_id or "",
        status=str(status),
        thread_id=data.get("thread_id"),
    )


def pending_record(
    pending: PendingApproval, call: ToolCall, *, waiting_until: float | None = None
) -> PendingRecord:
    """The store's record of a held send; ``waiting_until`` (with this process as its
    owner) while a wait runs, so a process that dies mid-wait leaves it to another."""
    return PendingRecord(
        email_id=pending.email_id,
        mailbox_id=pending.mailbox_id,
        call_id=call.id,
        tool=call.name,
        thread_id=call.context.thread_id,
        run_id=call.context.run_id,
        response_id=call.context.response_id,
        waiting_until=waiting_until,
        owner=current_owner() if waiting_until is not None else None,
    )


def replayed(prepared: PreparedCall, data: Any) -> tuple[str, str] | None:
    """(email id, mailbox id) of a gated send answered ``already_sent`` (a retry whose
    first answer was lost): its real status must be looked up, for it may be held."""
    mailbox_id = prepared.mailbox_id
    if not prepared.spec.gated or not mailbox_id or not isinstance(data, dict):
        return None
    email_id = data.get("id")
    if data.get("status") != "already_sent" or not is_plausible_id(email_id):
        return None  # an id that cannot name a path is not looked up
    return email_id, mailbox_id


def with_real_status(data: dict[str, Any], email: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``already_sent`` answer with the email's status now (kept as it was when the
    lookup failed), so a send still held is waited on like a first answer."""
    if email is None or not isinstance(email.get("status"), str):
        return data
    return {**data, "status": email["status"], "thread_id": email.get("thread_id")}


def replay_outcome(
    replayed: tuple[str, str] | None, email: Mapping[str, Any] | None
) -> ApprovalOutcome | None:
    """The decision a replayed send's lookup already shows (``approved_and_sent`` only
    with MultiMail's evidence), or ``None`` when the email is still held, its state
    unknown or the lookup failed."""
    if replayed is None or email is None:
        return None
    outcome = outcome_from_email(replayed[0], email, waited=0.0, status_checks=1, woken_by="poll")
    if outcome.decision in ("pending", "unknown") or not outcome.settled:
        return None
    return outcome


class GatedSendSteps:
    """The approval wait's decisions that need the dispatcher's configuration: its
    ``approvals`` policy, its clock, its ``approval_store`` and its output bound.
    `DispatcherCore` builds on it and sets these attributes."""

    approvals: ApprovalPolicy | None
    approval_store: PendingStore | None
    max_output_chars: int
    _clock: Callable[[], float]

    def approval_plan(
        self, result: ToolResult, call: ToolCall, policy: ApprovalPolicy | None
    ) -> ApprovalPlan | None:
        """What to wait for after ``result``, until when and how, or ``None`` for no wait."""
        policy = policy if policy is not None else self.approvals
        if policy is None or not policy.wait or result.pending is None:
            return None
        if call.context.on_held is not None:
            # Told before the deadline is taken, so a slow hook does not shorten the wait.
            call.context.on_held(call.id, result.pending)
        deadline = policy.deadline(self._clock(), call.context.deadline)
        if self.approval_store is not None:
            # Recorded before the wait: a process that dies while waiting loses nothing.
            self.approval_store.add(
                pending_record(result.pending, call, waiting_until=deadline + WAIT_GRACE)
            )
        return ApprovalPlan(result.pending, deadline, policy)

    replayed = staticmethod(replayed)
    with_real_status = staticmethod(with_real_status)

    def replay_decided(
        self,
        result: ToolResult,
        call: ToolCall,
        replayed: tuple[str, str] | None,
        email: Mapping[str, Any] | None,
    ) -> ToolResult | None:
        """The decision a replayed send's lookup already shows, as the model reads a wait's
        outcome (``approved_and_sent`` only with MultiMail's evidence), or ``None`` when the
        email is still held, its state unknown or the lookup failed."""
        outcome = replay_outcome(replayed, email) if result.ok else None
        return None if outcome is None else self.settle(result, call, outcome)

    def settle(self, result: ToolResult, call: ToolCall, outcome: ApprovalOutcome) -> ToolResult:
        """``result`` with the wait's outcome as its output; a still-pending approval is
        recorded in the store so its decision can reach the conversation later."""
        output, truncated = bound_output(outcome.as_output(), self.max_output_chars, "")
        if self.approval_store is not None and result.pending is not None:
            if not outcome.settled:  # held, unknown, scheduled unapproved: resolve it later
                self.approval_store.add(pending_record(result.pending, call))
            else:  # the decision travels with this output
                self.approval_store.remove(result.pending.email_id)
        return replace(result, output=output, truncated=truncated, approval=outcome)
