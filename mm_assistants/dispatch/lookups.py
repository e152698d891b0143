"""Looking an email up before acting on it, when the call names the email but not its
mailbox (pure: a state machine the dispatchers feed with answers).

Under a limited scope (see `mm_assistants.dispatch.scope`):

- ``decide_email``: the held-email listing (``list_pending``) must hold the email in one
  of the scope's mailboxes;
- ``report_spam`` and ``not_spam``: the email must be readable from one of the scope's
  mailboxes, tried the default first, then the others in order, at most
  `MAX_EMAIL_LOOKUPS`; a 404 means "not in this one" and the next is tried. An answer
  counts only when it names the asked email (``id``) and, when it names a mailbox, the
  one looked in: the scope never rests on the server refusing a foreign path alone.

The email lookup is ``read_email``'s request, and MultiMail marks an email read when it
is read (v2's ``read_email`` is a write for that reason): looking an email up before a
spam report marks it read before the report is made, even when the report then fails.
Only emails of the scope's mailboxes can be touched that way (a foreign one answers 404
or is not counted), and MultiMail has no lookup that leaves the status alone.

Any other failure of a lookup is the call's failure (reported as it would be for the
call itself), and an email found nowhere is refused with one answer whether it exists
elsewhere or not. `Dispatcher` and `AsyncDispatcher` drive a `ScopeLookup` in a loop that
differs only in ``await``::

    lookup = ScopeLookup.for_call(tool, email_id, default, scope, registry)
    while (request := lookup.next_request()) is not None:
        try:
            answer = client.send(request).data
        except MultiMailError as error:
            lookup.failed(error)
        else:
            lookup.answered(answer)
    lookup.verdict  # None: go ahead; a Refusal; or the MultiMailError to report
"""

from __future__ import annotations

from collections import deque
from typing import Any

from mm_assistants.dispatch.policy import Refusal
from mm_assistants.dispatch.scope import held_refusal, needs_lookup
from mm_assistants.multimail.errors import MultiMailError, NotFoundError
from mm_assistants.tools import RequestSpec, ToolRegistry

#: Tools that name an email but not its mailbox, checked by looking the email up.
EMAIL_LOOKUP_TOOLS = frozenset({"report_spam", "not_spam"})
#: The most mailboxes one such check looks in (each look is one request).
MAX_EMAIL_LOOKUPS = 10

#: What a finished lookup decided: ``None`` lets the call through, a `Refusal` refuses it
#: (not in the scope), a `MultiMailError` is a lookup failure to report as the call's.
Verdict = Refusal | MultiMailError | None


def lookup_mailboxes(
    tool: str, default: str | None, scope: frozenset[str] | None
) -> tuple[str, ...]:
    """The mailboxes to look an email up in before ``tool`` (``report_spam``, ``not_spam``)
    acts on it, in order: the default first, then the rest sorted, at most
    `MAX_EMAIL_LOOKUPS`; empty when no check is needed (another tool, or any mailbox)."""
    if tool not in EMAIL_LOOKUP_TOOLS or scope is None:
        return ()
    first = (default,) if default in scope else ()
    rest = tuple(sorted(scope - set(first)))
    return (*first, *rest)[:MAX_EMAIL_LOOKUPS]


def found_in(
    tool: str,
    email_id: Any,
    answer: Any,
    scope: frozenset[str] | None,
    mailbox: str | None = None,
) -> bool:
    """True when a lookup's ``answer`` (``None``: not found there) shows ``email_id`` in
    the scope: held in a scope mailbox (``decide_email``, ``answer`` a ``list_pending``
    listing) or read from the path of ``mailbox``, a scope mailbox (``report_spam``,
    ``not_spam``: the answer's ``id`` is ``email_id`` and its ``mailbox_id``, if any, is
    ``mailbox``)."""
    if tool == "decide_email":
        return held_refusal(email_id, answer, scope) is None
    if not isinstance(answer, dict) or answer.get("id") != email_id:
        return False
    return answer.get("mailbox_id", mailbox) == mailbox


def lookup_refusal(tool: str, email_id: Any, scope: frozenset[str] | None) -> Refusal:
    """Refuse ``tool`` on an email no lookup found in ``scope``'s mailboxes."""
    allowed = scope if scope is not None else frozenset()
    if tool == "decide_email":
        return held_refusal(email_id, None, allowed) or Refusal("mailbox_not_allowed", "")
    searched = "" if len(allowed) <= MAX_EMAIL_LOOKUPS else f" (the first {MAX_EMAIL_LOOKUPS})"
    # Whether it exists elsewhere is not this assistant's to learn: one answer for both.
    return Refusal(
        "mailbox_not_allowed",
        f"no email with this id is in this assistant's mailboxes{searched}",
        [{"allowed_mailboxes": sorted(allowed)}],
    )


class ScopeLookup:
    """Whether one call naming only an email stays in the scope, found out by sending the
    requests it asks for, in order, until one settles it (no I/O here).

    Ask `next_request` for the request to send, tell its answer (`answered`) or its error
    (`failed`), and repeat until `next_request` is ``None``; `verdict` is then final.
    """

    def __init__(
        self,
        tool: str,
        email_id: Any,
        scope: frozenset[str] | None,
        requests: tuple[RequestSpec, ...],
        mailboxes: tuple[str | None, ...] = (),
    ) -> None:
        self.tool = tool
        self.email_id = email_id
        self.scope = scope
        # Each request with the mailbox it looks in (None: a listing of every mailbox).
        self._left = deque(zip(requests, mailboxes or (None,) * len(requests), strict=True))
        # Outside the scope until a lookup finds the email; no lookup at all: let it pass.
        self.verdict: Verdict = lookup_refusal(tool, email_id, scope) if requests else None
        self._settled = not requests

    @classmethod
    def for_call(
        cls,
        tool: str,
        email_id: Any,
        default: str | None,
        scope: frozenset[str] | None,
        registry: ToolRegistry,
    ) -> ScopeLookup:
        """The lookups ``tool`` needs on ``email_id`` under ``scope`` (none when the scope
        is unlimited or the tool names its mailbox): the held-email listing for
        ``decide_email``, the email in each scope mailbox for ``report_spam``/``not_spam``."""
        if needs_lookup(tool, scope):
            return cls(tool, email_id, scope, (registry.bind("list_pending", {}),))
        mailboxes = lookup_mailboxes(tool, default, scope)
        requests = tuple(
            registry.bind("read_email", {"email_id": str(email_id)}, mailbox_id=mailbox)
            for mailbox in mailboxes
        )
        return cls(tool, email_id, scope, requests, mailboxes)

    def next_request(self) -> RequestSpec | None:
        """The next lookup to send, or ``None`` when `verdict` is final."""
        return None if self._settled or not self._left else self._left[0][0]

    def answered(self, answer: Any) -> None:
        """Take the answer (the decoded body) of the request `next_request` gave."""
        _, mailbox = self._left.popleft()
        if found_in(self.tool, self.email_id, answer, self.scope, mailbox):
            self.verdict, self._settled = None, True

    def failed(self, error: MultiMailError) -> None:
        """Take the error the request `next_request` gave failed with: a 404 of an email
        lookup means "not in this mailbox" (look on); any other error ends the lookup and
        is reported as the call's failure."""
        self._left.popleft()
        if not (isinstance(error, NotFoundError) and self.tool in EMAIL_LOOKUP_TOOLS):
            self.verdict, self._settled = error, True


__all__ = [
    "EMAIL_LOOKUP_TOOLS",
    "MAX_EMAIL_LOOKUPS",
    "ScopeLookup",
    "Verdict",
    "found_in",
    "lookup_mailboxes",
    "lookup_refusal",
]
