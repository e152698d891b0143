"""The sandbox's starting state: two tenants, their mailboxes and keys, made once per file.

On an empty database `ensure_seed` creates the main tenant (slug ``sandbox``) with the
``gated_send`` mailbox ``agent@sandbox.multimail.dev`` and one key per scope (``read``,
``send``, ``oversight``, ``admin``: no key holds both send and oversight), and a second
tenant (slug ``other``) with its own mailbox and a read+send key, for isolation tests.
The raw keys are kept in the seed record so a restarted app on the same file (and
``GET /sandbox/seed``) hands out the same ones; it is a local sandbox, never a real
account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mm_assistants.sandbox.multimail_api.auth import Scope, issue_key
from mm_assistants.sandbox.multimail_api.settings import MultiMailSandboxSettings
from mm_assistants.sandbox.multimail_api.store import Store
from mm_assistants.sandbox.multimail_api.tenants import mailbox_address, new_mailbox, new_tenant

SEED_ID = "seed"
# An agent must read its inbox to answer it and a reviewer must read what it judges, so
# the send and oversight keys also read; no key both composes and approves.
_KEY_SCOPES: Mapping[str, tuple[Scope, ...]] = {
    "read": ("read",),
    "send": ("read", "send"),
    "oversight": ("read", "oversight"),
    "admin": ("admin",),
}


@dataclass(frozen=True)
class SandboxSeed:
    """The seeded tenants. ``keys`` maps ``read``/``send``/``oversight``/``admin`` to raw
    keys of the main tenant; ``second_tenant_key`` is a read+send key of the other tenant.
    Keys stay out of the ``repr``.

    Example::

        seed = app.state.multimail_sandbox.seed
        httpx.get(url + f"/v1/mailboxes/{seed.mailbox_id}/emails",
                  headers={"Authorization": f"Bearer {seed.keys['read']}"})
    """

    tenant_id: str
    mailbox_id: str
    address: str
    keys: Mapping[str, str] = field(repr=False)
    second_tenant_id: str
    second_mailbox_id: str
    second_address: str
    second_tenant_key: str = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        """The seed as JSON, keys included (for ``GET /sandbox/seed``)."""
        return {
            "tenant_id": self.tenant_id,
            "mailbox_id": self.mailbox_id,
            "address": self.address,
            "keys": dict(self.keys),
            "second_tenant_id": self.second_tenant_id,
            "second_mailbox_id": self.second_mailbox_id,
            "second_address": self.second_address,
            "second_tenant_key": self.second_tenant_key,
        }


def ensure_seed(store: Store, now: float, settings: MultiMailSandboxSettings) -> SandboxSeed:
    """The seed of this database, created on first use (never twice)."""
    with store.transaction():
        record = store.get("sandbox", SEED_ID)
        if record is None:
            record = {"id": SEED_ID, **_create(store, now, settings)}
            store.put("sandbox", record)
    return SandboxSeed(
        tenant_id=record["tenant_id"],
        mailbox_id=record["mailbox_id"],
        address=record["address"],
        keys=MappingProxyType(dict(record["keys"])),
        second_tenant_id=record["second_tenant_id"],
        second_mailbox_id=record["second_mailbox_id"],
        second_address=record["second_address"],
        second_tenant_key=record["second_tenant_key"],
    )


def _create(store: Store, now: float, settings: MultiMailSandboxSettings) -> dict[str, Any]:
    main = new_tenant("Sandbox Operator", "sandbox", "operator@example.com", now, settings)
    other = new_tenant("Other Tenant", "other", "operator@other.example.com", now, settings)
    answer: dict[str, Any] = {"keys": {}}
    for prefix, tenant in (("", main), ("second_", other)):
        store.put("tenants", tenant)
        mailbox = new_mailbox(tenant["id"], mailbox_address(tenant, "agent"), "Agent", now)
        store.put("mailboxes", mailbox, parent=tenant["id"])
        answer[f"{prefix}tenant_id"] = tenant["id"]
        answer[f"{prefix}mailbox_id"] = mailbox["id"]
        answer[f"{prefix}address"] = mailbox["address"]
    for name, scopes in _KEY_SCOPES.items():
        _, raw = issue_key(store, main["id"], f"sandbox {name}", scopes, now)
        answer["keys"][name] = raw
    _, answer["second_tenant_key"] = issue_key(
        store, other["id"], "other tenant read+send", ("read", "send"), now
    )
    return answer
