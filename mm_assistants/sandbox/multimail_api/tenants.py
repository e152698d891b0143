"""New tenants (accounts) and mailboxes, as MultiMail shows them."""

from __future__ import annotations

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api.formats import epoch_ms, iso, new_id
from mm_assistants.sandbox.multimail_api.settings import MultiMailSandboxSettings

DOMAIN = "multimail.dev"
MAX_MAILBOXES = 25
MAX_STORAGE_BYTES = 5 * 1024**3


def new_tenant(
    name: str, slug: str, oversight_email: str, now: float, settings: MultiMailSandboxSettings
) -> Doc:
    """A confirmed, active tenant on the ``pro`` plan; its mailboxes are ``<local>@<slug>.``
    plus `DOMAIN`."""
    return {
        "id": new_id("tnt_"),
        "name": name,
        "slug": slug,
        "plan": "pro",
        "oversight_email": oversight_email,
        "physical_address": None,
        "monthly_email_quota": settings.monthly_email_quota,
        "max_mailboxes": MAX_MAILBOXES,
        "storage_used_bytes": 0,
        "max_storage_bytes": MAX_STORAGE_BYTES,
        "is_active": True,
        "confirmed": True,
        "sending_disabled": False,
        "sending_disabled_reason": None,
        "created_at": iso(now),
    }


def mailbox_address(tenant: Doc, local: str) -> str:
    """The address of mailbox ``local`` of ``tenant``."""
    return f"{local}@{tenant['slug']}.{DOMAIN}"


def new_mailbox(tenant_id: str, address: str, display_name: str | None, now: float) -> Doc:
    """A mailbox; new mailboxes always start ``gated_send`` (an upgrade needs the operator)
    and disclose that an AI writes their mail (``ai_disclosure``)."""
    return {
        "id": new_id("mbx_"),
        "tenant_id": tenant_id,
        "address": address,
        "display_name": display_name,
        "oversight_mode": "gated_send",
        "auto_cc": None,
        "auto_bcc": None,
        "forward_inbound": 0,
        "webhook_url": None,
        "oversight_webhook_url": None,
        "signature_block": None,
        "default_gate_timing": "gate_first",
        "scheduling_enabled": True,
        # MultiMail's default: mail from an AI-operated mailbox says so (X-AI-Generated)
        "ai_disclosure": True,
        "created_at": epoch_ms(now),
        "is_active": 1,
    }
