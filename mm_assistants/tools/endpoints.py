"""The v1 binding table: which MultiMail request each tool becomes.

Facts from MultiMail's OpenAPI document (2.0.0) and its 38-tool MCP server (0.5.x). ``MB`` is
the mailbox prefix; ``{name}`` in a path is filled from the argument of that name,
URL-encoded. Arguments not in the path go to the query string or the JSON body as listed;
``renames`` maps an argument to its wire name. Tools marked ``client_side`` are carried out
by the dispatcher in several requests; their entry is the first request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Scope = Literal["read", "send", "oversight", "admin", "none"]
Effect = Literal["read", "write", "destructive"]

MB = "/v1/mailboxes/{mailbox_id}"

SEND_BODY = (
    "to",
    "cc",
    "bcc",
    "subject",
    "markdown",
    "attachments",
    "idempotency_key",
    "send_at",
    "gate_timing",
)
INBOX_QUERY = (
    "status",
    "sender",
    "subject_contains",
    "date_after",
    "date_before",
    "direction",
    "has_attachments",
    "since_id",
    "limit",
    "cursor",
)
MAILBOX_SETTINGS = ("display_name", "oversight_mode", "auto_cc", "auto_bcc", "signature_block")


@dataclass(frozen=True)
class Endpoint:
    """Where one tool's call goes and what kind of call it is."""

    method: str
    path: str
    scope: Scope
    effect: Effect
    query: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    renames: Mapping[str, str] = field(default_factory=dict)
    #: Sending the same request twice changes nothing more than sending it once.
    idempotent: bool = False
    #: The answer may be a held message that waits for a human's approval.
    gated: bool = False
    #: The dispatcher carries the tool out itself, in more than one request.
    client_side: bool = False
    #: Body fields the library always sends with this value. The model never sees them,
    #: and binding sets them after the model's arguments, so an argument cannot override one.
    constants: Mapping[str, Any] = field(default_factory=dict)

    @property
    def mailbox_scoped(self) -> bool:
        """True when the path names a mailbox, which may come from a default."""
        return "{mailbox_id}" in self.path


def _read(path: str, *query: str, scope: Scope = "read") -> Endpoint:
    return Endpoint("GET", path, scope, "read", query=query, idempotent=True)


ENDPOINTS_V1: Mapping[str, Endpoint] = {
    "list_mailboxes": _read("/v1/mailboxes"),
    "send_email": Endpoint("POST", f"{MB}/send", "send", "write", body=SEND_BODY, gated=True),
    "check_inbox": _read(f"{MB}/emails", *INBOX_QUERY),
    "read_email": _read(f"{MB}/emails/{{email_id}}"),
    "reply_email": Endpoint(
        "POST",
        f"{MB}/reply/{{email_id}}",
        "send",
        "write",
        body=("markdown", "cc", "bcc", "attachments", "idempotency_key"),
        gated=True,
    ),
    "download_attachment": Endpoint(
        "GET",
        f"{MB}/emails/{{email_id}}/attachments/{{filename}}/url",
        "read",
        "read",
        idempotent=True,
        client_side=True,
    ),
    "get_thread": _read(f"{MB}/threads/{{thread_id}}"),
    "cancel_message": Endpoint(
        "POST", f"{MB}/emails/{{email_id}}/cancel", "send", "write", idempotent=True
    ),
    "update_mailbox": Endpoint(
        "PATCH", MB, "admin", "write", body=(*MAILBOX_SETTINGS, "forward_inbound"), idempotent=True
    ),
    "update_account": Endpoint(
        "PATCH",
        "/v1/account",
        "admin",
        "write",
        body=("name", "oversight_email", "physical_address"),
        idempotent=True,
    ),
    "delete_mailbox": Endpoint("DELETE", MB, "admin", "destructive", idempotent=True),
    "resend_confirmation": Endpoint(
        "POST", "/v1/account/resend-confirmation", "none", "write", idempotent=True
    ),
    "activate_account": Endpoint("POST", "/v1/confirm", "none", "write", body=("code",)),
    # tag_email's action picks the method and path; see registry.bind.
    "tag_email": Endpoint(
        "PUT", f"{MB}/emails/{{email_id}}/tags", "send", "write", body=("tags",), idempotent=True
    ),
    "add_contact": Endpoint(
        "POST", "/v1/contacts", "send", "write", body=("name", "email", "tags")
    ),
    "search_contacts": _read("/v1/contacts", "query"),
    "get_account": _read("/v1/account"),
    "create_mailbox": Endpoint(
        "POST",
        "/v1/mailboxes",
        "admin",
        "write",
        body=("address_local_part", "display_name", "approval_code"),
        renames={"address_local_part": "address_local"},
    ),
    "request_upgrade": Endpoint(
        "POST", f"{MB}/request-upgrade", "send", "write", body=("target_mode",)
    ),
    "apply_upgrade": Endpoint("POST", f"{MB}/upgrade", "send", "write", body=("code",)),
    "get_usage": _read("/v1/usage", "period"),
    "list_pending": _read("/v1/oversight/pending", scope="oversight"),
    "decide_email": Endpoint(
        "POST",
        "/v1/oversight/decide",
        "oversight",
        "write",
        body=("email_id", "action", "reason"),
    ),
    "delete_contact": Endpoint(
        "DELETE", "/v1/contacts/{contact_id}", "send", "destructive", idempotent=True
    ),
    "check_suppression": _read("/v1/suppression", "limit", "cursor"),
    "remove_suppression": Endpoint(
        "DELETE", "/v1/suppression/{email_address}", "admin", "destructive", idempotent=True
    ),
    "list_api_keys": _read("/v1/api-keys", scope="admin"),
    "create_api_key": Endpoint(
        "POST", "/v1/api-keys", "admin", "write", body=("name", "scopes", "approval_code")
    ),
    "revoke_api_key": Endpoint(
        "DELETE", "/v1/api-keys/{key_id}", "admin", "destructive", idempotent=True
    ),
    "get_audit_log": _read("/v1/audit-log", "limit", "cursor", scope="admin"),
    "delete_account": Endpoint("DELETE", "/v1/account", "admin", "destructive", idempotent=True),
    # wait_for_email polls the inbox listing: its filter becomes query parameters, and the
    # dispatcher adds since_id and the loop bounded by timeout_seconds.
    "wait_for_email": Endpoint(
        "GET",
        f"{MB}/emails",
        "read",
        "read",
        query=("sender", "subject_contains"),
        idempotent=True,
        client_side=True,
    ),
    "create_webhook": Endpoint(
        "POST",
        "/v1/webhooks",
        "admin",
        "write",
        body=("url", "events", "mailbox_id", "approval_code"),
    ),
    "list_webhooks": _read("/v1/webhooks", scope="admin"),
    "delete_webhook": Endpoint(
        "DELETE", "/v1/webhooks/{webhook_id}", "admin", "destructive", idempotent=True
    ),
    "configure_mailbox": Endpoint(
        "PATCH",
        f"{MB}/configure",
        "admin",
        "write",
        body=(*MAILBOX_SETTINGS, "default_gate_timing", "scheduling_enabled"),
        idempotent=True,
    ),
    "schedule_email": Endpoint("POST", f"{MB}/send", "send", "write", body=SEND_BODY, gated=True),
    "edit_scheduled_email": Endpoint(
        "PATCH",
        f"{MB}/emails/{{email_id}}/schedule",
        "send",
        "write",
        body=("send_at", "to", "cc", "bcc", "subject", "markdown"),
        idempotent=True,
    ),
}
