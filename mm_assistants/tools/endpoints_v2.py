"""The v2 binding table: v1's 38 tools as MultiMail's MCP server 0.7.0 describes them, plus 8.

Built from `ENDPOINTS_V1` so the two tables cannot drift where nothing changed. The
changes follow the MCP server (commit 4964220) and MultiMail's OpenAPI document 2.0.0:

- ``ai_disclosure`` joins the body of ``create_mailbox``, ``update_mailbox`` and
  ``configure_mailbox``; ``resend_confirmation`` names the account by ``oversight_email``
  and, rate limited and mailing a new code each time, is no longer idempotent.
- The flags now agree with MCP's annotations (a test holds them together): reading an
  email marks it read, so ``read_email`` is a write; ``cancel_message``, ``tag_email``
  (its delete action) and ``configure_mailbox`` are destructive.
- New: the spam tools, the billing tools, and the proof-of-work signup
  (``request_challenge`` then ``create_account``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from mm_assistants.tools.endpoints import ENDPOINTS_V1, Endpoint

_CHANGED: Mapping[str, Endpoint] = {
    "create_mailbox": replace(
        ENDPOINTS_V1["create_mailbox"],
        body=(*ENDPOINTS_V1["create_mailbox"].body, "ai_disclosure"),
    ),
    "update_mailbox": replace(
        ENDPOINTS_V1["update_mailbox"],
        body=(*ENDPOINTS_V1["update_mailbox"].body, "ai_disclosure"),
    ),
    "configure_mailbox": replace(
        ENDPOINTS_V1["configure_mailbox"],
        body=(*ENDPOINTS_V1["configure_mailbox"].body, "ai_disclosure"),
        effect="destructive",
    ),
    "resend_confirmation": replace(
        ENDPOINTS_V1["resend_confirmation"], body=("oversight_email",), idempotent=False
    ),
    "read_email": replace(ENDPOINTS_V1["read_email"], effect="write"),
    "cancel_message": replace(ENDPOINTS_V1["cancel_message"], effect="destructive"),
    "tag_email": replace(ENDPOINTS_V1["tag_email"], effect="destructive"),
}

_SIGNUP_BODY = (
    "operator_name",
    "oversight_email",
    "accepted_tos",
    "accepted_operator_agreement",
    "accepted_anti_spam_policy",
    "pow_solution",
    "slug",
    "physical_address",
    "use_case",
    "oversight_mode",
)

_NEW: Mapping[str, Endpoint] = {
    "report_spam": Endpoint("POST", "/v1/emails/{email_id}/report-spam", "send", "write"),
    "not_spam": Endpoint("POST", "/v1/emails/{email_id}/not-spam", "send", "write"),
    "list_spam": Endpoint(
        "GET", "/v1/emails", "read", "read", query=("status", "limit", "cursor"), idempotent=True
    ),
    "upgrade_plan": Endpoint(
        "POST", "/v1/billing/checkout", "admin", "write", body=("plan", "interval")
    ),
    # No body: return_url is where the operator's browser goes after paying, and an
    # argument the model could set from an email would let that email pick the page.
    "get_billing_portal": Endpoint("POST", "/v1/billing/portal", "admin", "read", idempotent=True),
    "cancel_subscription": Endpoint(
        "POST",
        "/v1/billing/cancel",
        "admin",
        "destructive",
        body=("approval_code",),
        idempotent=True,
    ),
    "request_challenge": Endpoint(
        "POST", "/v1/account/challenge", "none", "write", body=("oversight_email",)
    ),
    # MultiMail accepts only transactional use today; the MCP server sends it always.
    "create_account": Endpoint(
        "POST",
        "/v1/account",
        "none",
        "write",
        body=_SIGNUP_BODY,
        constants=MappingProxyType({"email_use_type": "transactional"}),
    ),
}

ENDPOINTS_V2: Mapping[str, Endpoint] = MappingProxyType({**ENDPOINTS_V1, **_CHANGED, **_NEW})
