"""New emails as MultiMail stores them: the fields every email has, and outbound ones.

Private ``_`` fields drive the lifecycle (see `lifecycle`): ``_mode`` (the mailbox's mode at
send time), ``_scan_at``, ``_send_at``, ``_created``; ``_digest`` and ``_reply_to`` serve
reply de-duplication and ``_tenant`` finds the owner.
"""

from __future__ import annotations

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api.drafts import Draft
from mm_assistants.sandbox.multimail_api.formats import iso, new_id


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
        _scan_at=now + scan_delay,
        _send_at=draft.send_at,
        _digest=digest,
        _reply_to=None if original is None else original["id"],
    )
    return email
