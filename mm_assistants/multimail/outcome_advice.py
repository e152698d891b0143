"""What a write whose outcome is unknown may have done, and what to look at before trying
it again (pure; the words of `TransportError` when ``outcome_unknown`` is true).

A send keeps the email's words (it may be on its way; re-sending could mail a person
twice). Any other write says its change may or may not have been applied, and names the
look that tells (``report_spam``: ``list_spam``; ``decide_email``: ``list_pending``), so a
model checks instead of repeating a write blindly.
"""

from __future__ import annotations

import re

#: Tools that send an email: their unknown outcome is an email that may be on its way.
SEND_TOOLS = frozenset({"send_email", "reply_email", "schedule_email"})
#: MultiMail's send paths, for a request made without a tool (``client.request``).
_SEND_PATH = re.compile(r"/v1/mailboxes/[^/]+/(send|reply/[^/]+)$")

#: tool -> (what may or may not have happened, what to look at before trying again).
_OTHER_WRITES: dict[str, tuple[str, str]] = {
    "decide_email": (
        "the decision may or may not have been recorded (an approved email may already be "
        "on its way)",
        "look at list_pending (is the email still held?) before deciding again",
    ),
    "report_spam": (
        "the email may or may not have been reported as spam",
        "look at list_spam before reporting it again",
    ),
    "not_spam": (
        "the email may or may not have been restored from spam",
        "look at list_spam (or check_inbox) before restoring it again",
    ),
    "cancel_message": (
        "the email may or may not have been cancelled",
        "read the email (read_email) for its status before cancelling again",
    ),
    "edit_scheduled_email": (
        "the scheduled email may or may not have been changed",
        "read the email (read_email) before editing it again",
    ),
    "tag_email": (
        "the tags may or may not have been set",
        "read the email (read_email) for its tags before tagging again",
    ),
    "add_contact": (
        "the contact may or may not have been added",
        "look it up with search_contacts before adding it again",
    ),
    "create_mailbox": (
        "the mailbox may or may not have been created",
        "look at list_mailboxes before creating another",
    ),
    "create_webhook": (
        "the webhook may or may not have been created",
        "look at list_webhooks before creating another",
    ),
    "create_api_key": (
        "the key may or may not have been created",
        "look at list_api_keys before creating another",
    ),
}
_DEFAULT = (
    "the change may or may not have been applied",
    "check its effect (the matching list_ or get_ tool) before trying again",
)


def is_send(tool: str | None, path: str) -> bool:
    """True when the request sends an email (by its tool, or by its path without one)."""
    return tool in SEND_TOOLS if tool is not None else bool(_SEND_PATH.search(path))


def unknown_outcome_advice(tool: str | None, path: str, *, retry_safe: bool) -> str:
    """The sentences after "... failed after N attempts (...)" for a write that may have
    reached MultiMail: what may have happened and what to check first.

    ``retry_safe``: the request was retried (it carries an idempotency key, or repeating it
    changes nothing more), so the failure came after every attempt.
    """
    if is_send(tool, path):
        if retry_safe:
            return (
                ". An attempt may have reached MultiMail, so its outcome is unknown: the email "
                "may already be stored and on its way. Its idempotency key made the retries "
                "safe, but a new send would not be: check the mailbox (outbound) before "
                "sending again, never re-send blindly."
            )
        return (
            ". It may have reached MultiMail, so its outcome is unknown: the email may or "
            "may not have been sent. It was not retried because it carries no "
            "idempotency key; check the mailbox before sending again, never re-send blindly."
        )
    what, check = _OTHER_WRITES.get(tool or "", _DEFAULT)
    why = (
        "Every attempt failed"
        if retry_safe
        else "It was not retried because repeating it is not safe"
    )
    return (
        f". It may have reached MultiMail, so its outcome is unknown: {what}. {why}; "
        f"{check}, never repeat it blindly."
    )
