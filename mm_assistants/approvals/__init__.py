"""The gated-send wait: decide when a held email is decided, wait for it, remember it.

The pending-approval records and their stores live in `mm_assistants.state`; they are
re-exported here because this package's API takes and hands them (`resolve_pending` takes
a `PendingStore` and delivers `PendingRecord`s; a `Dispatcher`'s ``approval_store`` is one),
and so are the decision stores an `ApprovalHub` takes to wake waits across processes.
"""

from mm_assistants.approvals.fleet_hub import DecisionNotShared
from mm_assistants.approvals.fleet_watcher import FleetWatcher, SweepReport
from mm_assistants.approvals.hub import HUB_CHECK_INTERVAL, ApprovalHub, Subscription
from mm_assistants.approvals.store import (
    decision_due,
    late_outcome,
    resolve_decision,
    resolve_pending,
)
from mm_assistants.approvals.waiter import wait_async, wait_sync
from mm_assistants.approvals.watch import ApprovalOutcome, ApprovalPolicy, Decision, classify
from mm_assistants.state import (
    MemoryPendingStore,
    PendingRecord,
    PendingStore,
    SQLitePendingStore,
)
from mm_assistants.state.decisions import DecisionStore, MemoryDecisionStore

__all__ = [
    "HUB_CHECK_INTERVAL",
    "ApprovalHub",
    "ApprovalOutcome",
    "ApprovalPolicy",
    "Decision",
    "DecisionNotShared",
    "DecisionStore",
    "FleetWatcher",
    "MemoryDecisionStore",
    "MemoryPendingStore",
    "PendingRecord",
    "PendingStore",
    "SQLitePendingStore",
    "Subscription",
    "SweepReport",
    "classify",
    "decision_due",
    "late_outcome",
    "resolve_decision",
    "resolve_pending",
    "wait_async",
    "wait_sync",
]
