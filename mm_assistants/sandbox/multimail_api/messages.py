"""New emails as MultiMail stores them: the fields every email has, and outbound ones.

Private ``_`` fields drive the lifecycle (see `lifecycle`): ``_mode`` (the mailbox's mode at
send time), ``_scan_at``, ``_send_at``, ``_created``; ``_digest`` and ``_reply_to`` serve
reply de-duplication and ``_tenant`` finds the owner; ``_ai_disclosure`` is the mailbox's
``ai_disclosure`` at send time (see `wire_message`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api.drafts import Draft
from mm_assistants.sandbox.multimail_api.formats import iso, new_id
from mm_assistants.sandbox.multimail_api.signing import AI_HEADER, IDENTITY_HEADER, identity_claim

#: The line MultiMail adds to the signature block of mail from an AI-disclosing mailbox.
AI_DISCLOSURE_LINE = "This email was sent by an AI agent."


def base_email(
    mailbox: Doc,
    direction: str,
    sender: str,
    to: list[str],
    subject: str,
    markdown: str,
    now: float,
) -> Doc:
    """The fields every email has; the caller adds status, thread and the rest."""
    email_id = new_id("em_")
    return {
        "id": email_id,
        "mailbox_id": mailbox["id"],
        "message_id": f"<{email_id}@{mailbox['address'].rpartition('@')[2]}>",
        "direction": direction,
        "from": sender,
        "to": to,
        "cc": [],
        "subject": subject,
        "markdown": markdown,
        "received_at": iso(now),
        "has_attachments": False,
        "attachments": [],
        "tags": {},
        "delivered_at": None,
        "bounced_at": None,
        "bounce_type": None,
        "approved_at": None,
        "approved_by": None,
        "spam_score": None,
        "spam_verdict": None,
        "_tenant": mailbox["tenant_id"],
        "_created": now,
    }


def outbound_email(
    mailbox: Doc, draft: Draft, original: Doc | None, digest: str, now: float, scan_delay: float
) -> Doc:
    """A new outbound email, ``pending_scan`` until ``now + scan_delay``: a send, or a reply
    to ``original`` (to its sender, in its thread, "Re:" subject). The mailbox adds its
    signature, ``auto_cc``/``auto_bcc`` and default ``gate_timing``."""
    markdown = draft.markdown
    if mailbox.get("signature_block"):
        markdown = f"{markdown}\n\n{mailbox['signature_block']}"
    cc = [*draft.cc, *([mailbox["auto_cc"]] if mailbox.get("auto_cc") else [])]
    bcc = [*draft.bcc, *([mailbox["auto_bcc"]] if mailbox.get("auto_bcc") else [])]
    to, subject, thread_id = list(draft.to), draft.subject, new_id("thr_")
    if original is not None:
        inbound = original["direction"] == "inbound"
        to = [original["from"]] if inbound else list(original["to"])
        subject = original["subject"]
        if not subject.lower().startswith("re:"):
            subject = f"Re: {subject}"
        thread_id = original["thread_id"]
    gate_timing = draft.gate_timing or mailbox.get("default_gate_timing") or "gate_first"
    email = base_email(mailbox, "outbound", mailbox["address"], to, subject, markdown, now)
    email.update(
        thread_id=thread_id,
        cc=cc,
        bcc=bcc,
        status="pending_scan",
        in_reply_to=None if original is None else original["id"],
        send_at=None if draft.send_at is None else iso(draft.send_at),
        gate_timing=gate_timing if draft.send_at is not None else None,
        _mode=mailbox["oversight_mode"],
        _ai_disclosure=bool(mailbox.get("ai_disclosure", True)),
        _scan_at=now + scan_delay,
        _send_at=draft.send_at,
        _digest=digest,
        _reply_to=None if original is None else original["id"],
    )
    return email


def wire_message(email: Mapping[str, Any], operator: str, secret: str) -> tuple[Doc, str]:
    """The headers and body an outbound email leaves with. The stored email keeps the body
    as written; what is added on the way out is the signed identity claim, and with
    ``ai_disclosure`` the ``X-AI-Generated: true`` header and `AI_DISCLOSURE_LINE`."""
    disclose = bool(email.get("_ai_disclosure", True))
    claims = {
        "ai_generated": disclose,
        "email_id": email["id"],
        "from": email["from"],
        "operator": operator,
    }
    headers: Doc = {IDENTITY_HEADER: identity_claim(claims, secret)}
    body = email["markdown"]
    if disclose:
        headers[AI_HEADER] = "true"
        body = f"{body}\n\n{AI_DISCLOSURE_LINE}"
    return headers, body
