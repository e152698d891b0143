"""What the review page talks to: the `ReviewBackend` protocol and its one error,
`ReviewError`, whose message is written for the person reviewing.

Two backends ship: `mm_assistants.review.oversight.AsyncOversightQueue` (MultiMail's API
with an oversight-scoped key) and the sandbox's in-process one
(``mm_assistants.sandbox.review.SandboxReviewBackend``). Your own can wrap either, e.g.
to record who decided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from mm_assistants.review.queue import one_line, shorten

#: The refusal a key without the oversight scope meets, in the reviewer's words.
NO_OVERSIGHT_SCOPE = "this key has no oversight scope; use an oversight-scoped key"
#: Longest piece of MultiMail's own error text a message quotes.
MAX_DETAIL = 200


class ReviewError(Exception):
    """A refusal to show the reviewer as it is: ``str(error)`` says what went wrong.

    ``status`` is the HTTP status that caused it (``None`` when MultiMail was not
    reached). Messages never carry a key: build them with `refusal`.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@runtime_checkable
class ReviewBackend(Protocol):
    """The held emails and the decisions on them, for `create_review_app`.

    Example::

        class Recorded:
            def __init__(self, inner: ReviewBackend) -> None:
                self.inner = inner
            async def pending(self):
                return await self.inner.pending()
            async def decide(self, email_id, action, reason):
                log.info("decided %s: %s", email_id, action)
                return await self.inner.decide(email_id, action, reason)
    """

    async def pending(self) -> Sequence[Mapping[str, Any]]:
        """The records of ``GET /v1/oversight/pending``; a `ReviewError` on refusal."""
        ...

    async def decide(self, email_id: str, action: str, reason: str | None) -> Mapping[str, Any]:
        """Approve or reject (``action``) a held email; MultiMail's answer (``{status}``).

        ``action`` and ``reason`` arrive checked (`mm_assistants.review.queue.check_decision`).
        Raises a `ReviewError` on refusal.
        """
        ...


@runtime_checkable
class OriginalSource(Protocol):
    """A `ReviewBackend` that can also find the email a held reply answers, shown beside
    the reply on the review page. Optional: a backend without it shows replies alone.

    MultiMail's oversight list does not say which email a reply answers, and an
    oversight-scoped key cannot read emails, so `AsyncOversightQueue` finds originals only
    when given a second, read-scoped client (``reader=``); the sandbox's backend reads
    them in process.
    """

    async def original(self, email: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The record (as ``read_email`` shows it) of the email ``email`` answers, or
        ``None`` when it answers none or cannot be read. Should not raise."""
        ...


def refusal(status: int | None, email_id: str | None = None, detail: str | None = None) -> str:
    """The reviewer's message for a refused call: what it means and what to do.

    >>> refusal(403)
    'this key has no oversight scope; use an oversight-scoped key'
    >>> refusal(404, "em_1")
    'unknown email id em_1: no such email in this account'
    """
    email = f"email {email_id}" if email_id else "this email"
    if status == 401:
        message = "MultiMail did not accept this API key: it is missing, wrong or revoked"
    elif status == 403:
        message = NO_OVERSIGHT_SCOPE
    elif status == 404:
        known = f"unknown email id {email_id}: " if email_id else ""
        message = f"{known}no such email in this account"
    elif status == 409:
        message = f"{email} is not waiting for a decision: already decided, sent or cancelled"
    elif status == 429:
        message = "MultiMail is limiting requests; try again in a moment"
    elif status is None:
        message = "could not reach MultiMail"
    else:
        message = f"MultiMail refused the request (HTTP {status})"
    said = shorten(one_line(detail or ""), MAX_DETAIL)
    return f"{message} (MultiMail said: {said})" if said else message
