"""MultiMail's oversight queue over its API: `OversightQueue` (blocking, for the CLI) and
`AsyncOversightQueue` (asyncio; the `ReviewBackend` of a real review page).

Both need an oversight-scoped key (MultiMail refuses a key that holds both ``send`` and
``oversight``: whoever composes must not approve). They share every decision, the paths,
the decide body and the translation of `MultiMailError` into a `ReviewError`, and differ
only in ``await``.

Example::

    from mm_assistants.multimail import AsyncMultiMailClient
    from mm_assistants.review import AsyncOversightQueue, create_review_app

    client = AsyncMultiMailClient(api_key=os.environ["MULTIMAIL_OVERSIGHT_KEY"])
    app = create_review_app(AsyncOversightQueue(client))

The email a held reply answers: MultiMail's pending list does not name it, and an
oversight key cannot read emails. Give `AsyncOversightQueue` a second client with a
``read``-scoped key (``reader=``) and the page shows the original beside each reply (it
reads the held email's ``in_reply_to``, then that email; a read marks an unread email
read, as ``read_email`` does). Without it, replies are shown alone.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient, MultiMailError
from mm_assistants.review.backend import ReviewError, refusal
from mm_assistants.review.queue import check_decision, emails_of

PENDING_PATH = "/v1/oversight/pending"
DECIDE_PATH = "/v1/oversight/decide"


class OversightQueue:
    """The oversight queue through a blocking `MultiMailClient` (which stays yours to
    close). Every refusal is a `ReviewError`; a malformed decision a ``ValueError``."""

    def __init__(self, client: MultiMailClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._client!r})"  # the client's repr hides the key

    def pending(self) -> list[Mapping[str, Any]]:
        """The held emails, as ``GET /v1/oversight/pending`` lists them."""
        try:
            answer = self._client.request("GET", PENDING_PATH)
        except MultiMailError as exc:
            raise review_error(exc) from exc
        return emails_of(answer.data)

    def decide(self, email_id: str, action: str, reason: str | None = None) -> dict[str, Any]:
        """Approve or reject a held email: MultiMail's answer, e.g. ``{"status": "rejected"}``."""
        body = decide_body(email_id, action, reason)
        try:
            answer = self._client.request("POST", DECIDE_PATH, json=body)
        except MultiMailError as exc:
            raise review_error(exc, email_id) from exc
        return decision_answer(answer.data)


#: How many held emails' originals `AsyncOversightQueue` remembers (they never change).
ORIGINALS_KEPT = 512


class AsyncOversightQueue:
    """`OversightQueue` over an `AsyncMultiMailClient`: a `ReviewBackend`, and with a
    read-scoped ``reader`` an `OriginalSource` (module docstring)."""

    def __init__(
        self, client: AsyncMultiMailClient, *, reader: AsyncMultiMailClient | None = None
    ) -> None:
        self._client = client
        self._reader = reader
        self._originals: OrderedDict[str, Mapping[str, Any] | None] = OrderedDict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._client!r})"

    async def pending(self) -> list[Mapping[str, Any]]:
        """The held emails; see `OversightQueue.pending`."""
        try:
            answer = await self._client.request("GET", PENDING_PATH)
        except MultiMailError as exc:
            raise review_error(exc) from exc
        return emails_of(answer.data)

    async def original(self, email: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The email a held reply answers, read with ``reader``; ``None`` without a reader,
        for a new email, or when MultiMail refuses (asked again on the next look)."""
        if self._reader is None:
            return None
        email_id, mailbox_id = str(email.get("id")), str(email.get("mailbox_id"))
        if email_id in self._originals:
            return self._originals[email_id]
        try:
            held = await self._reader.request("GET", email_path(mailbox_id, email_id))
            parent = held.data.get("in_reply_to") if isinstance(held.data, Mapping) else None
            found = None
            if isinstance(parent, str) and parent:
                answer = await self._reader.request("GET", email_path(mailbox_id, parent))
                found = answer.data if isinstance(answer.data, Mapping) else None
        except MultiMailError:
            return None
        self._originals[email_id] = found
        while len(self._originals) > ORIGINALS_KEPT:
            self._originals.popitem(last=False)
        return found

    async def decide(self, email_id: str, action: str, reason: str | None = None) -> dict[str, Any]:
        """Approve or reject a held email; see `OversightQueue.decide`."""
        body = decide_body(email_id, action, reason)
        try:
            answer = await self._client.request("POST", DECIDE_PATH, json=body)
        except MultiMailError as exc:
            raise review_error(exc, email_id) from exc
        return decision_answer(answer.data)


def email_path(mailbox_id: str, email_id: str) -> str:
    """``GET /v1/mailboxes/{mailbox_id}/emails/{email_id}``'s path, each id quoted (both
    come from MultiMail's answers: untrusted)."""
    return f"/v1/mailboxes/{quote(mailbox_id, safe='')}/emails/{quote(email_id, safe='')}"


def decide_body(email_id: str, action: str, reason: str | None) -> dict[str, Any]:
    """The JSON of ``POST /v1/oversight/decide``; a ``ValueError`` when malformed."""
    if not isinstance(email_id, str) or not email_id.strip():
        raise ValueError("email_id must be a non-empty string")
    checked, text = check_decision(action, reason)
    body: dict[str, Any] = {"email_id": email_id.strip(), "action": checked}
    if text is not None:
        body["reason"] = text
    return body


def decision_answer(data: Any) -> dict[str, Any]:
    """The decide call's answer as a dict (``{}`` when MultiMail sent no JSON object)."""
    return dict(data) if isinstance(data, Mapping) else {}


def review_error(exc: MultiMailError, email_id: str | None = None) -> ReviewError:
    """The reviewer's `ReviewError` for a failed call (the client already scrubbed the key
    from ``exc``; a transport failure quotes its own message)."""
    detail = exc.error if exc.status is not None else str(exc)
    return ReviewError(refusal(exc.status, email_id, detail), status=exc.status)
