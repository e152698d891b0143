"""Pending approvals that outlive their run: when a decision is due, and delivering it once.

When a wait reaches its deadline the email is still held; the run's tool output says so
and the approval is recorded in a `PendingStore` (`mm_assistants.state`: memory, SQLite).
Later, `resolve_pending` (or a driver) looks each one up again and hands the decision to
the thread or a callback. The stores only keep records; what to deliver, and when, is
decided here, once, for the sync and the async drivers.

Several resolvers may run at once (threads, processes, a webhook receiver and a sweep):
each *claims* a decided record before delivering it (`PendingStore.claim`, atomic in every
backend), so exactly one of them delivers it. A claim lasts `CLAIM_SECONDS` or until its
holder's process is gone; a delivery that fails releases it for the next try.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from mm_assistants import state
from mm_assistants._moved import moved_names
from mm_assistants.approvals.watch import ApprovalOutcome, outcome_from_email
from mm_assistants.state.owners import new_token

#: How long a claim holds before another resolver may take the record over.
CLAIM_SECONDS = 300.0
#: How long a parked Responses run may hold a decision for its resume (OpenAI keeps a
#: response 30 days; see `mm_assistants.drivers.parking`). A record parked longer is
#: delivered here like any late decision.
PARK_LIMIT_SECONDS = 25 * 86400.0

# The records and their stores moved to mm_assistants.state (issue 13): the old names
# still import from here, with a DeprecationWarning naming the new place.
__getattr__ = moved_names(
    __name__,
    dict.fromkeys(
        (
            "MemoryPendingStore",
            "PendingRecord",
            "PendingStore",
            "current_owner",
            "decode_record",
            "owner_alive",
        ),
        "mm_assistants.state",
    ),
)


def late_outcome(
    record: state.PendingRecord, email: Mapping[str, Any] | None, *, woken_by: str = "poll"
) -> ApprovalOutcome | None:
    """The outcome to deliver for ``record`` given its email's record now (looked up, or
    an oversight event's data when ``woken_by="webhook"``), or ``None`` while there is no
    last word to tell (still held, scheduled and not yet approved, an unknown status) or
    it could not be looked up: the record then stays for a later decision."""
    if email is None:
        return None
    outcome = outcome_from_email(
        record.email_id,
        email,
        waited=time.time() - record.recorded_at,
        status_checks=0 if woken_by == "webhook" else 1,
        woken_by=woken_by,
    )
    return outcome if outcome.settled else None


def claim(store: state.PendingStore, record: state.PendingRecord) -> str | None:
    """Claim ``record`` for delivery: the claim's token, or ``None`` when another resolver
    (or a live wait) has it. Deliver under `holding`, which removes or releases it."""
    token = new_token()
    taken = store.claim(record.email_id, token, until=time.time() + CLAIM_SECONDS)
    if taken is None:
        return None
    now = time.time()
    if taken.waited_on(now) or held_by_park(taken, now):  # a wait or a park took it since
        store.release(record.email_id, token)
        return None
    return token


@contextmanager
def holding(store: state.PendingStore, email_id: str, token: str) -> Iterator[None]:
    """Deliver inside this block: the record is removed when the block ends normally, and
    its claim released when the block raises (the delivery is tried again later)."""
    try:
        yield
    except BaseException:
        store.release(email_id, token)
        raise
    store.remove(email_id)


def resolve_pending(
    store: state.PendingStore,
    fetch: Callable[[str, str], Mapping[str, Any] | None],
    deliver: Callable[[state.PendingRecord, ApprovalOutcome], None],
) -> list[ApprovalOutcome]:
    """Look up every recorded approval once; deliver and forget the decided ones.

    Each decided record is claimed first, so of several resolvers running at once exactly
    one delivers it. ``deliver`` runs before the record is removed, so a crash in between
    delivers twice at worst (once its claim expired), never zero times; a ``deliver`` that
    raises releases the claim and keeps the record for next time. Returns the outcomes
    delivered.
    """
    delivered = []
    for record in unattended(store):
        due = due_after_look(store, record, fetch(record.email_id, record.mailbox_id))
        if due is None:
            continue
        outcome, token = due
        with holding(store, record.email_id, token):
            deliver(record, outcome)
        delivered.append(outcome)
    return delivered


def unattended(store: state.PendingStore) -> Iterator[state.PendingRecord]:
    """The records no live wait follows, each checked as it is reached (a wait may take one
    over while earlier ones are looked up): the first step of `resolve_pending` and of the
    async drivers' twin of it, which differ only in ``await``. A record a parked run holds
    is left to its resume (`held_by_park`)."""
    for record in store.all():
        now = time.time()
        if not record.waited_on(now) and not held_by_park(record, now):
            yield record  # else its own wait (or resume) hands the decision to the model


def held_by_park(record: state.PendingRecord, now: float) -> bool:
    """Whether a parked run's resume, not a late-decision message, delivers ``record``'s
    decision: it names a checkpoint and was not parked longer than `PARK_LIMIT_SECONDS`
    (a resume that falls back clears the name, so the message path takes over)."""
    return record.checkpoint_id is not None and now - record.recorded_at <= PARK_LIMIT_SECONDS


def due_after_look(
    store: state.PendingStore, record: state.PendingRecord, email: Mapping[str, Any] | None
) -> tuple[ApprovalOutcome, str] | None:
    """The outcome and claim token to deliver for ``record`` given its email looked up now
    (``None`` when the look failed), or ``None``: no last word yet, or another resolver
    claimed it. Deliver under `holding`. The second step of `resolve_pending` and its twin."""
    outcome = late_outcome(record, email)
    if outcome is None:
        return None
    token = claim(store, record)
    return None if token is None else (outcome, token)


def resolve_decision(
    store: state.PendingStore,
    email_id: str,
    email: Mapping[str, Any],
    deliver: Callable[[state.PendingRecord, ApprovalOutcome], None],
) -> ApprovalOutcome | None:
    """Deliver a decision a webhook brought about ``email_id``, when a record waits for it.

    ``email`` is the decided email's record (e.g. `mm_assistants.webhooks.feed.decision_record`
    of the event). Returns the outcome delivered, or ``None`` when no run left that email
    pending (its own wait took the decision), the record still reads as undecided, or
    another resolver claimed it. As in `resolve_pending`, the record is removed only after
    ``deliver`` returned.
    """
    due = decision_due(store, email_id, email)
    if due is None:
        return None
    record, outcome, token = due
    with holding(store, email_id, token):
        deliver(record, outcome)
    return outcome


def decision_due(
    store: state.PendingStore, email_id: str, email: Mapping[str, Any]
) -> tuple[state.PendingRecord, ApprovalOutcome, str] | None:
    """The record, outcome and claim token to deliver a decision a webhook brought, or
    ``None``: no record waits for ``email_id``, a live wait owns it, it still reads as
    undecided, or another resolver claimed it. Deliver under `holding`. The one decision
    behind `resolve_decision` and the async drivers' twin of it."""
    record = store.get(email_id)
    if record is None or record.waited_on(time.time()) or held_by_park(record, time.time()):
        return None
    outcome = late_outcome(record, email, woken_by="webhook")
    if outcome is None:
        return None
    token = claim(store, record)
    return None if token is None else (record, outcome, token)
