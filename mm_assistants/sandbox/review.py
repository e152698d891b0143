"""`SandboxReviewBackend`: the review page's backend inside the sandbox, served at
``/review``.

It lists the seeded tenant's queue and decides in process, through `MultiMailControl`, as
the tenant's operator (the decision's ``approved_by`` is the tenant's oversight email). So
the sandbox needs no key and no HTTP client to show its own queue: the sandbox never
imports the MultiMail client. It is an `OriginalSource`: beside a held reply the page
shows the email it answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mm_assistants.review.backend import ReviewError, refusal
from mm_assistants.sandbox.multimail_api import MultiMailControl


class SandboxReviewBackend:
    """A `ReviewBackend` over the sandbox's own control handle.

    ``tenant_id`` picks whose queue is shown (default: the seeded tenant's).
    """

    def __init__(self, control: MultiMailControl, tenant_id: str | None = None) -> None:
        self._control = control
        self._tenant_id = tenant_id

    async def pending(self) -> Sequence[Mapping[str, Any]]:
        """The tenant's held emails."""
        return self._control.pending(self._tenant_id)

    async def original(self, email: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The email a held reply answers (its ``in_reply_to``), read without marking it
        read; ``None`` for a new email."""
        held = self._control.email(str(email.get("id")))
        parent = held.get("in_reply_to") if held is not None else None
        return self._control.email(parent) if isinstance(parent, str) else None

    async def decide(self, email_id: str, action: str, reason: str | None) -> Mapping[str, Any]:
        """Approve or reject as the operator; a `ReviewError` for an unknown email (404) or
        one that does not wait in this tenant's queue (409)."""
        if not any(email["id"] == email_id for email in self._control.pending(self._tenant_id)):
            # checked here because the control decides for any tenant's operator
            known = self._control.email(email_id) is not None
            status = 409 if known else 404
            raise ReviewError(refusal(status, email_id), status=status)
        try:
            return self._control.decide(email_id, action, reason)
        except ValueError as exc:  # decided elsewhere since the look above
            raise ReviewError(refusal(409, email_id, str(exc)), status=409) from exc
