"""The built-in ``email-assistant`` script that drives the demo.

It checks the inbox, opens the newest inbound email, replies politely, and reports how the
reply ended, reading each step's outcome from the tool outputs the application sent:

1. ``check_inbox`` (inbound, five newest; every other argument ``null``, as the strict-mode
   tool schemas require);
2. ``read_email`` of the first email, or a final message if the inbox is empty;
3. ``reply_email`` to it with a short Markdown reply;
4. a final message: approved and sent, rejected and not sent (quoting the reason), still
   awaiting a human (not sent), or the error the tool reported.

Any tool answering with an error ends the conversation with a message saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mm_assistants.sandbox.openai_api.state import ConversationState

REPLY_MARKDOWN = (
    "Hello,\n\n"
    "Thank you for your message. I have received it and will get back to you with a "
    "full answer shortly.\n\n"
    "Best regards,\n\n"
    "*Your email assistant*"
)

_CHECK_INBOX = {
    "status": None,
    "sender": None,
    "subject_contains": None,
    "date_after": None,
    "date_before": None,
    "direction": "inbound",
    "has_attachments": None,
    "since_id": None,
    "limit": 5,
    "cursor": None,
    "mailbox_id": None,
}
_PENDING = ("pending_scan", "pending_send_approval", "pending", "scheduled")


def email_assistant(state: ConversationState) -> dict[str, Any] | None:
    """The next turn of the demo conversation (see the module docstring)."""
    if not state.called("check_inbox"):
        return {"call": "check_inbox", "arguments": dict(_CHECK_INBOX)}
    inbox = state.output("check_inbox")
    problem = _error_text(inbox)
    if problem:
        return {"say": f"I could not check the inbox: {problem}"}
    emails = inbox.get("emails") if isinstance(inbox, Mapping) else None
    first = emails[0] if isinstance(emails, list) and emails else None
    email_id = first.get("id") if isinstance(first, Mapping) else None
    if not isinstance(email_id, str):
        return {"say": "Your inbox has no inbound email to answer, so there is nothing to do."}
    if not state.called("read_email"):
        return {"call": "read_email", "arguments": {"email_id": email_id, "mailbox_id": None}}
    problem = _error_text(state.output("read_email"))
    if problem:
        return {"say": f"I could not open email {email_id}: {problem}"}
    if not state.called("reply_email"):
        return {"call": "reply_email", "arguments": _reply(email_id)}
    return {"say": _report(email_id, state.output("reply_email"))}


def _reply(email_id: str) -> dict[str, Any]:
    return {
        "email_id": email_id,
        "markdown": REPLY_MARKDOWN,
        "cc": None,
        "bcc": None,
        "attachments": None,
        "idempotency_key": None,
        "mailbox_id": None,
    }


def _report(email_id: str, output: Any) -> str:
    answer = output if isinstance(output, Mapping) else {}
    status = str(answer.get("status") or "").lower()
    text = str(output).lower()
    problem = _error_text(output)
    # the status field decides first: notes mention "sent" even for rejected messages
    if status == "rejected" or (not status and "rejected" in text):
        reason = answer.get("reason") or answer.get("rejection_reason") or "no reason given"
        # "drafted", not "replied": a rejected reply never left, and the words must not
        # suggest it did
        return (
            f"I drafted a reply to email {email_id}, but the reviewer rejected it, so "
            f"nothing was sent: {reason}"
        )
    if status in _PENDING or (not status and "pending" in text):
        return (
            f"I drafted a reply to email {email_id}. It awaits a human's approval and has "
            "not been sent; I will not send it again."
        )
    if status in ("approved_and_sent", "approved", "sent", "delivered") or (
        not status and not problem and ("approved" in text or "sent" in text)
    ):
        return f"I replied to email {email_id}; the reply was approved and sent."
    if status in ("cancelled", "send_failed"):
        return f"My reply to email {email_id} was not delivered (status {status})."
    return f"I could not reply to email {email_id}: {problem or 'the reply tool failed.'}"


def _error_text(output: Any) -> str | None:
    """The error a tool output reports, if it reports one."""
    if not isinstance(output, Mapping):
        return str(output) if isinstance(output, str) and "error" in output.lower() else None
    error = output.get("error")
    if error is None:
        return None
    if isinstance(error, Mapping):
        return str(error.get("message") or error.get("type") or error)
    return str(error)


BUILTIN_SCRIPTS = {"email-assistant": email_assistant}
