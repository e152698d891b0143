"""One-time operator codes: approvals (new mailbox, webhook, key) and mode upgrades.

MultiMail mails these to the operator's oversight email so that an agent cannot open a
channel (a mailbox, a webhook, a key) or loosen its own oversight by itself. The sandbox
keeps them in ``codes`` and shows the unused ones to the operator through
``GET /sandbox/codes`` and `MultiMailControl.codes`. A code is single-use, expires after
``settings.code_ttl`` and is bound to its purpose and to what it approves: the mailbox's
address, the webhook's url, the key's name and scopes, the key and its new scopes. Those
are stored on the code, so the operator sees them next to it.

A code presented for something other than what it was issued for is refused (400) and
used up all the same. The caller holds a real code there, so this is no typo; it is an
attempt to spend the operator's yes on a request the operator never saw. Leaving the
code open would let the caller try variations until one passes. Using it up means the
operator is asked again and sees the request as it really is.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from mm_assistants.sandbox.docstore import Doc, public
from mm_assistants.sandbox.multimail_api.auth import Caller
from mm_assistants.sandbox.multimail_api.errors import bad_request, forbidden
from mm_assistants.sandbox.multimail_api.formats import iso, new_code
from mm_assistants.sandbox.multimail_api.routing import Context, ok


def issue(ctx: Context, tenant_id: str, purpose: str, **subject: Any) -> Doc:
    """A new code for ``purpose`` (``create_mailbox``, ``upgrade``, ...) and ``subject``."""
    now = ctx.now()
    code: Doc = {
        "id": new_code(),
        "purpose": purpose,
        "tenant_id": tenant_id,
        **subject,
        "created_at": iso(now),
        "expires_at": iso(now + ctx.settings.code_ttl),
        "_created": now,
        "_expires": now + ctx.settings.code_ttl,
        "used": False,
    }
    return ctx.store.put("codes", code, parent=tenant_id)


def open_codes(ctx: Context, tenant_id: str, purpose: str | None = None) -> list[Doc]:
    """The tenant's unused, unexpired codes (optionally of one purpose), oldest first."""
    now = ctx.now()
    return [
        code
        for code in ctx.store.children("codes", tenant_id)
        if not code["used"] and code["_expires"] > now and purpose in (None, code["purpose"])
    ]


def redeem(ctx: Context, tenant_id: str, purpose: str, value: str, **subject: Any) -> Doc | None:
    """Use up code ``value`` if it is open and of ``purpose``: the code when it also matches
    ``subject``, ``None`` when there is no such open code. A code that exists but was issued
    for another subject is used up and refused with a 400 naming the fields that differ."""
    wanted = value.strip().upper()
    with ctx.store.transaction():
        code = next((c for c in open_codes(ctx, tenant_id, purpose) if c["id"] == wanted), None)
        if code is None:
            return None
        code["used"] = True
        ctx.store.put("codes", code, parent=tenant_id)
    # raised after the transaction, which would otherwise roll the use back
    differ = mismatched(code, subject)
    if differ:
        raise bad_request(
            f"This {purpose} code was issued for a different request (it differs in: "
            f"{', '.join(differ)}), so it is refused and now used up. Repeat the request "
            "without approval_code to have the operator asked about it as it is."
        )
    return code


def mismatched(code: Doc, subject: dict[str, Any]) -> list[str]:
    """The names of ``subject``'s fields whose value differs from what ``code`` approves."""
    return sorted(name for name, value in subject.items() if code.get(name) != value)


def approval_gate(
    ctx: Context, caller: Caller, flow: str, code: object, **subject: Any
) -> Response | None:
    """For an operation that needs the operator (see ``settings.require_approval``): the
    202 that issues a code when ``code`` is absent, a 403 for a wrong one, ``None`` to go on.
    """
    if flow not in ctx.settings.require_approval:
        return None
    if code is None:
        issue(ctx, caller.tenant_id, flow, **subject)
        return ok(
            {
                "status": "pending_approval",
                "message": "An approval code was sent to the operator's oversight email. "
                "Ask the operator for it and repeat this call with approval_code.",
            },
            202,
        )
    if not isinstance(code, str):
        raise bad_request("approval_code must be a string")
    if redeem(ctx, caller.tenant_id, flow, code, **subject) is None:
        raise forbidden("Invalid or expired approval code")
    return None


def view(code: Doc) -> Doc:
    """A code as the operator sees it."""
    return public(code)
