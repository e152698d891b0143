"""Email statuses and oversight modes: pure rules, no storage, no HTTP.

An outbound email starts ``pending_scan`` and remembers the mailbox's mode at send time
(``_mode``) and when its scan ends (``_scan_at``). `settle` replays what the clock has
done to it since it was stored, so the answer depends only on the email and ``now``:

- scan over, ``send_at`` set and ``schedule_first`` (or an ungated mailbox) → ``scheduled``;
- scan over in a gated mailbox (``gated_send``, ``gated_all``) → ``pending_send_approval``;
- scan over otherwise (``monitored``, ``autonomous``) → delivered;
- ``scheduled`` and ``send_at`` reached → delivered, or held for approval first when the
  mailbox is gated and nobody approved it yet (``schedule_first``).

MultiMail's status enum has no ``sent``: a delivered outbound email gets `DELIVERED`
(``read``: nothing about it waits for anyone) and a ``delivered_at`` time, which is how
MultiMail shows delivery. `decide`, `cancel` and `edit_schedule` refuse with `Refused`
(a 409) when the email is not in a state that allows them. Each change lists the webhook
events it causes, in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api.formats import iso

#: From most to least restrictive; PATCH may move left only, ``upgrade`` moves right.
MODES = ("read_only", "gated_all", "gated_send", "monitored", "autonomous")
GATED_MODES = frozenset({"gated_send", "gated_all"})
DELIVERED = "read"
GATE_TIMINGS = ("gate_first", "schedule_first")
PENDING_DECISION = frozenset({"pending_send_approval", "pending_inbound_approval"})
_SETTLE_STEPS = 3  # at most: scan → scheduled → delivered; a bound, not a loop


class Refused(Exception):
    """The email's status does not allow the operation (the API answers 409)."""


@dataclass(frozen=True)
class Change:
    """An email after an operation, and the webhook events the operation causes."""

    email: Doc
    events: tuple[str, ...] = ()


def is_upgrade(current: str, target: str) -> bool:
    """Whether moving from ``current`` to ``target`` loosens oversight."""
    return MODES.index(target) > MODES.index(current)


def inbound_status(mode: str, spam_verdict: str | None) -> tuple[str, tuple[str, ...]]:
    """The status of a newly received email and its events."""
    if spam_verdict == "quarantined":
        return "spam_quarantined", ()
    if spam_verdict == "flagged":
        return "spam_flagged", ()
    if mode == "gated_all":
        return "pending_inbound_approval", ("oversight.pending",)
    return "unread", ("message.received",)


def next_due(email: Mapping[str, Any]) -> float | None:
    """When the clock will next change ``email`` by itself, if ever."""
    if email["status"] == "pending_scan":
        return float(email["_scan_at"])
    if email["status"] == "scheduled":
        return float(email["_send_at"])
    return None


def settle(email: Mapping[str, Any], now: float) -> Change:
    """``email`` as the clock has left it at ``now`` (see the module docstring)."""
    current = dict(email)
    events: list[str] = []
    gated = current.get("_mode") in GATED_MODES
    for _ in range(_SETTLE_STEPS):
        due = next_due(current)
        if due is None or now < due:
            break
        if current["status"] == "pending_scan":
            scheduled = current.get("_send_at") is not None
            if scheduled and (current.get("gate_timing") == "schedule_first" or not gated):
                current["status"] = "scheduled"
            elif gated:
                current["status"] = "pending_send_approval"
                events.append("oversight.pending")
            else:
                events.extend(_deliver(current, due))
        elif gated and current.get("approved_at") is None:
            current["status"] = "pending_send_approval"  # schedule_first: approve on time
            events.append("oversight.pending")
        else:
            events.extend(_deliver(current, due))
    return Change(current, tuple(events))


def decide(
    email: Mapping[str, Any], action: str, now: float, decided_by: str, reason: str | None
) -> tuple[Change, str]:
    """Approve or reject a held email; the change and the decide call's ``status``."""
    status = email["status"]
    if status not in PENDING_DECISION:
        raise Refused(f"Email is not pending approval (status: {status})")
    current = dict(email)
    if action == "reject":
        current.update(status="rejected", rejected_at=iso(now), rejection_reason=reason)
        return Change(current, ("oversight.rejected",)), "rejected"
    current.update(approved_at=iso(now), approved_by=decided_by)
    if status == "pending_inbound_approval":
        current["status"] = "unread"
        return Change(current, ("oversight.approved", "message.received")), "approved"
    send_at = current.get("_send_at")
    if send_at is not None and send_at > now:  # gate_first: approved now, sent on time
        current["status"] = "scheduled"
        return Change(current, ("oversight.approved",)), "approved"
    events = ("oversight.approved", *_deliver(current, now))
    return Change(current, events), "approved_and_sent"


def cancel(email: Mapping[str, Any], now: float) -> Change:
    """Withdraw an email nobody has approved or sent yet; cancelling twice is harmless."""
    status = email["status"]
    if status == "cancelled":
        return Change(dict(email))
    held = status in PENDING_DECISION or status == "pending_scan"
    if not (held or (status == "scheduled" and email.get("approved_at") is None)):
        raise Refused(
            f"Email is not in a cancellable state (status: {status}); "
            "it was already approved or sent"
        )
    return Change({**email, "status": "cancelled", "cancelled_at": iso(now)})


def edit_schedule(
    email: Mapping[str, Any], fields: Mapping[str, Any], send_at: float | None
) -> Doc:
    """A scheduled email with ``fields`` (to, cc, bcc, subject, markdown) and ``send_at``
    changed; only while it is ``scheduled`` and not yet approved."""
    if email["status"] != "scheduled" or email.get("approved_at") is not None:
        raise Refused(
            f"Only scheduled emails that are not yet approved can be edited "
            f"(status: {email['status']})"
        )
    current = {**email, **fields}
    if send_at is not None:
        current.update(_send_at=send_at, send_at=iso(send_at))
    return current


def mark_read(email: Mapping[str, Any]) -> Doc:
    """Reading an unread email marks it read."""
    current = dict(email)
    if current["status"] == "unread":
        current["status"] = "read"
    return current


def _deliver(email: Doc, at: float) -> tuple[str, ...]:
    email["status"] = DELIVERED
    email["delivered_at"] = iso(at)
    if email.get("_mode") == "monitored":
        email["_operator_copy"] = True  # monitored: the operator gets a copy of each send
    return ("message.sent",)
