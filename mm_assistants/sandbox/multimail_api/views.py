"""How emails and threads look in answers (shapes of MultiMail's OpenAPI document)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mm_assistants.sandbox.docstore import Doc, public

SUMMARY_FIELDS = (
    "id",
    "from",
    "to",
    "subject",
    "direction",
    "status",
    "spam_score",
    "spam_verdict",
    "received_at",
    "thread_id",
    "has_attachments",
    "delivered_at",
    "bounced_at",
    "bounce_type",
)
_THREAD_FIELDS = (
    "id",
    "from",
    "to",
    "subject",
    "direction",
    "status",
    "received_at",
    "has_attachments",
    "delivered_at",
    "bounced_at",
)
_OPTIONAL = ("dkim", "spf", "dmarc", "send_at", "gate_timing", "rejection_reason", "in_reply_to")
# Settled outbound mail was answered by us; these never count as an answer to the sender.
_NOT_ANSWERS = frozenset({"cancelled", "rejected", "send_failed"})


def summary(email: Mapping[str, Any]) -> Doc:
    """An inbox row: no body, no attachment list, no tags."""
    return {name: email.get(name) for name in SUMMARY_FIELDS}


def full(email: Mapping[str, Any]) -> Doc:
    """The whole email as ``read_email`` shows it (optional fields only when known)."""
    shown = public(dict(email))
    for name in _OPTIONAL:
        if shown.get(name) is None:
            shown.pop(name, None)
    return shown


def pending(email: Mapping[str, Any]) -> Doc:
    """A row of ``GET /v1/oversight/pending``."""
    return {
        "id": email["id"],
        "mailbox_id": email["mailbox_id"],
        "direction": email["direction"],
        "from": email["from"],
        "to": list(email["to"]),
        "cc": list(email.get("cc") or []),
        "subject": email["subject"],
        "body_markdown": email["markdown"],
        "status": email["status"],
        "received_at": email["received_at"],
        "has_attachments": email["has_attachments"],
        "send_at": email.get("send_at"),
    }


def thread(thread_id: str, emails: Sequence[Mapping[str, Any]]) -> Doc:
    """``GET mb/threads/{id}``: the thread's emails oldest first, without bodies."""
    participants: list[str] = []
    for email in emails:
        for address in (email["from"], *email["to"], *(email.get("cc") or [])):
            if address not in participants:
                participants.append(address)
    return {
        "thread_id": thread_id,
        "message_count": len(emails),
        "participants": participants,
        "last_activity": max(e["received_at"] for e in emails),
        "has_unanswered_inbound": unanswered(emails),
        "emails": [{name: e.get(name) for name in _THREAD_FIELDS} for e in emails],
    }


def unanswered(emails: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the newest inbound email has no outbound reply after it."""
    answered = True
    for email in emails:
        if email["direction"] == "inbound":
            answered = False
        elif email["status"] not in _NOT_ANSWERS:
            answered = True
    return not answered
