"""The gated-send wait: decide when a held email is decided, wait for it, remember it."""

from mm_assistants.approvals.hub import ApprovalHub, Subscription
from mm_assistants.approvals.sqlite_store import SQLitePendingStore
from mm_assistants.approvals.store import (
    MemoryPendingStore,
    PendingRecord,
    PendingStore,
    decision_due,
    late_outcome,
    resolve_decision,
    resolve_pending,
)
from mm_assistants.approvals.waiter import wait_async, wait_sync
from mm_assistants.approvals.watch import ApprovalOutcome, ApprovalPolicy, Decision, classify

__all__ = [
    "ApprovalHub",
    "ApprovalOutcome",
    "ApprovalPolicy",
    "Decision",
    "MemoryPendingStore",
    "PendingRecord",
    "PendingStore",
    "SQLitePendingStore",
    "Subscription",
    "classify",
    "decision_due",
    "late_outcome",
    "resolve_decision",
    "resolve_pending",
    "wait_async",
    "wait_sync",
]
