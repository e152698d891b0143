"""The mailbox scope: which mailboxes a dispatcher lets the model touch (pure).

``mailbox_id=`` is the default mailbox *and* the scope: the model may use that mailbox and
no other, unless the caller widens the scope explicitly:

=======================  =============================  ===================================
``mailbox_id``           ``allowed_mailboxes``          the model may use
=======================  =============================  ===================================
``"mbx_1"``              not given                      ``mbx_1`` only
``"mbx_1"``              ``{"mbx_1", "mbx_2"}``         those two; ``mbx_1`` when unnamed
``"mbx_1"``              `ANY_MAILBOX`                  any mailbox; ``mbx_1`` when unnamed
not given                ``{"mbx_1", "mbx_2"}``         those two; each call names one
not given                not given / `ANY_MAILBOX`      any mailbox the API key reaches
=======================  =============================  ===================================

"Not given" means the argument was left out *and* the ``MULTIMAIL_MAILBOX_ID`` environment
variable is unset or empty: a dispatcher given no ``mailbox_id`` takes its default mailbox
from that variable, as the clients take their key from ``MULTIMAIL_API_KEY``, and a mailbox
from the environment is a scope exactly like one passed in (``mm-assistants sandbox``
prints it). An explicit ``mailbox_id=None`` ignores the variable. A bad id in it is a
`ValueError` at construction that names the variable.

The last row is deliberate: a dispatcher told of no mailbox at all cannot guess one, so
the API key's own reach is the limit (``mm-assistants run`` warns when it starts so).

What the scope means for tools that do not name a mailbox in their path:

- ``list_mailboxes``, ``list_pending`` and ``list_spam`` answer with the scope's mailboxes
  only; a ``list_spam`` item that does not say its mailbox is withheld too, and the
  answer's ``withheld_count`` says how many were;
- ``create_mailbox`` is refused under a limited scope: the new mailbox would lie outside
  it, and minting addresses is for an assistant allowed `ANY_MAILBOX`;
- ``create_webhook`` must name a mailbox of a limited scope (one for every mailbox would
  reach past it);
- ``decide_email`` names only an email, so under a limited scope the dispatcher first
  lists the held emails and refuses a decision on one not held in the scope's mailboxes;
- ``report_spam`` and ``not_spam`` name only an email too: under a limited scope the
  dispatcher first looks the email up in the scope's mailboxes (the default first, then
  the others in order, at most ten) and refuses it when none has it (the lookups are
  `mm_assistants.dispatch.lookups`);
- account tools (contacts, suppression, usage, account, API keys, webhooks, audit log)
  are governed by the profile, not by the scope.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from typing import Any, Final

from mm_assistants.dispatch.policy import Refusal, mailbox_refusal
from mm_assistants.tools.binding import check_default_mailbox
from mm_assistants.tools.ids import path_value_problem


class AnyMailbox(enum.Enum):
    """The type of `ANY_MAILBOX` (one member, so type checkers know the sentinel)."""

    ANY_MAILBOX = "ANY_MAILBOX"

    def __repr__(self) -> str:
        return "ANY_MAILBOX"


#: ``allowed_mailboxes=ANY_MAILBOX`` lets the model use every mailbox the API key reaches;
#: ``mailbox_id=`` is then only the default for calls that name none.
ANY_MAILBOX: Final = AnyMailbox.ANY_MAILBOX

#: Where a dispatcher given no ``mailbox_id`` finds its default mailbox (and scope).
MAILBOX_ID_ENV: Final = "MULTIMAIL_MAILBOX_ID"


class NotGiven(enum.Enum):
    """The type of `NOT_GIVEN` (one member, so type checkers know the sentinel)."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


#: ``mailbox_id`` left out: read `MAILBOX_ID_ENV`. Distinct from ``None``, which means "no
#: default mailbox" whatever the environment says.
NOT_GIVEN: Final = NotGiven.NOT_GIVEN

#: Tools refused outright under a limited scope, with why.
_ACCOUNT_WIDE = {
    "create_mailbox": "a new mailbox would be outside this assistant's mailboxes",
}
#: Listings that span mailboxes: tool -> (list key, the item's mailbox field).
_LISTINGS = {
    "list_pending": ("emails", "mailbox_id"),
    "list_mailboxes": ("mailboxes", "id"),
    "list_spam": ("emails", "mailbox_id"),
}
#: Listings whose items may lack the mailbox field: those are withheld and counted.
_COUNTED = frozenset({"list_spam"})


def default_mailbox(given: str | NotGiven | None, environ: Mapping[str, str]) -> str | None:
    """The default mailbox: ``given`` when it was given (``None`` included), else the
    `MAILBOX_ID_ENV` variable of ``environ`` (unset or blank: none).

    A bad id is the caller's misconfiguration, not the model's to fix: a `ValueError` now,
    naming the variable when the id came from it.
    """
    if not isinstance(given, NotGiven):
        if given is not None:
            check_default_mailbox(given)
        return given
    value = environ.get(MAILBOX_ID_ENV, "").strip()  # a stray newline from $(cat file)
    if not value:
        return None
    problem = path_value_problem("mailbox_id", value)
    if problem is not None:
        raise ValueError(
            f"the environment variable {MAILBOX_ID_ENV} {problem}; set it to the id of a "
            "MultiMail mailbox, or unset it"
        )
    return value


def resolve_scope(
    mailbox_id: str | None,
    allowed: Collection[str] | AnyMailbox | None,
    *,
    from_environment: bool = False,
) -> frozenset[str] | None:
    """The mailboxes a dispatcher allows (``None``: any), or a `TypeError`/`ValueError`
    for a configuration the caller must fix (``from_environment``: the default mailbox came
    from `MAILBOX_ID_ENV`, which the message then names)."""
    if isinstance(allowed, AnyMailbox):
        return None
    if isinstance(allowed, str):
        hint = " (pass ANY_MAILBOX to allow every mailbox)" if allowed.lower() == "any" else ""
        raise TypeError(
            f"allowed_mailboxes takes a collection of mailbox ids, not one string{hint}"
        )
    if allowed is None:
        return frozenset({mailbox_id}) if mailbox_id is not None else None
    scope = frozenset(allowed)
    if mailbox_id is not None and mailbox_id not in scope:
        origin = f" (from {MAILBOX_ID_ENV})" if from_environment else ""
        raise ValueError(f"the default mailbox {mailbox_id!r}{origin} is not in allowed_mailboxes")
    return scope


def scope_refusal(
    tool: str, mailbox_id: str | None, scope: frozenset[str] | None
) -> Refusal | None:
    """Refuse a call whose mailbox (named, or the default) lies outside ``scope``, or a
    tool that would reach past a limited scope; ``None`` lets it through."""
    refusal = mailbox_refusal(mailbox_id, scope)
    if refusal is not None or scope is None:
        return refusal
    details = [{"allowed_mailboxes": sorted(scope)}]
    if tool in _ACCOUNT_WIDE:
        return Refusal("mailbox_not_allowed", _ACCOUNT_WIDE[tool], details)
    if tool == "create_webhook" and mailbox_id is None:
        return Refusal(
            "mailbox_not_allowed",
            "name the mailbox: this assistant may only use specific mailboxes",
            details,
        )
    return None


def within_scope(tool: str, data: Any, scope: frozenset[str] | None) -> Any:
    """``data`` with a cross-mailbox listing cut to the mailboxes of ``scope``."""
    if scope is None or not isinstance(data, dict) or tool not in _LISTINGS:
        return data
    key, field = _LISTINGS[tool]
    if not isinstance(data.get(key), list):
        return data
    kept = [item for item in data[key] if isinstance(item, dict) and item.get(field) in scope]
    if tool not in _COUNTED:
        return {**data, key: kept}
    # Items of other mailboxes go unmentioned (not this assistant's to learn of); an item
    # that does not say its mailbox might be this one's, so its absence is told.
    unplaced = sum(1 for item in data[key] if not isinstance(item, dict) or not item.get(field))
    return {**data, key: kept, "withheld_count": unplaced} if unplaced else {**data, key: kept}


def needs_lookup(tool: str, scope: frozenset[str] | None) -> bool:
    """True when the call's mailbox is only known after a lookup (``list_pending``): a
    decision names an email, not its mailbox."""
    return tool == "decide_email" and scope is not None


def held_refusal(email_id: Any, pending: Any, scope: frozenset[str] | None) -> Refusal | None:
    """Refuse a decision on ``email_id`` unless ``pending`` (a ``list_pending`` answer)
    holds it in one of the scope's mailboxes."""
    if scope is None:
        return None
    emails = pending.get("emails") if isinstance(pending, dict) else None
    for email in emails if isinstance(emails, list) else []:
        if isinstance(email, dict) and email.get("id") == email_id:
            if email.get("mailbox_id") in scope:
                return None
            break
    # Whether it exists elsewhere is not this assistant's to learn: one answer for both.
    return Refusal(
        "mailbox_not_allowed",
        "no email with this id is held for approval in this assistant's mailboxes",
        [{"allowed_mailboxes": sorted(scope)}],
    )


def pinned_mailbox(mailbox_id: str | None, scope: frozenset[str] | None) -> str | None:
    """The mailbox to pin in exported tool definitions: the default, but only when it is
    the whole scope; a wider scope leaves the model a ``mailbox_id`` argument to choose."""
    if mailbox_id is not None and scope == frozenset({mailbox_id}):
        return mailbox_id
    return None


def describe(scope: frozenset[str] | None) -> str:
    """The scope in words, for ``repr`` and CLI messages."""
    return "ANY_MAILBOX" if scope is None else repr(sorted(scope))


__all__ = [
    "ANY_MAILBOX",
    "MAILBOX_ID_ENV",
    "NOT_GIVEN",
    "AnyMailbox",
    "NotGiven",
    "default_mailbox",
    "describe",
    "held_refusal",
    "needs_lookup",
    "pinned_mailbox",
    "resolve_scope",
    "scope_refusal",
    "within_scope",
]
