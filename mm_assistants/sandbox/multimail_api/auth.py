"""API keys: issuing them, finding the caller of a request, checking scopes.

A key is ``Authorization: Bearer mm_test_…`` or ``X-API-Key: mm_test_…``. Only its SHA-256
is kept (in ``key_index``); the key document holds the id, name, scopes and a short
prefix, so nothing that lists keys can reveal one. ``admin`` implies every scope, and no
key may hold both ``send`` and ``oversight``: whoever composes must not also approve.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api.errors import bad_request, missing_scope, unauthorized
from mm_assistants.sandbox.multimail_api.formats import iso, key_hash, new_api_key, new_id
from mm_assistants.sandbox.multimail_api.store import Store

Scope = Literal["read", "send", "oversight", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "send", "oversight", "admin")
PREFIX_LENGTH = 12  # "mm_test_" and four characters: enough to tell keys apart


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the tenant and the id (never the value) of the key."""

    tenant_id: str
    key_id: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        """Whether the key holds ``scope`` (``admin`` holds them all)."""
        return "admin" in self.scopes or scope in self.scopes

    def require(self, scope: str) -> None:
        """Raise the 403 that names ``scope`` unless the key holds it."""
        if not self.may(scope):
            raise missing_scope(scope)


def check_scopes(scopes: object) -> list[Scope]:
    """Validated scopes of a new key (400 on unknown ones or on send with oversight)."""
    if not isinstance(scopes, list) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise bad_request("scopes must be a non-empty array of: read, send, oversight, admin")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise bad_request(f"Unknown scopes {unknown}; allowed: read, send, oversight, admin")
    if "send" in scopes and "oversight" in scopes:
        raise bad_request(
            "A key cannot hold both 'send' and 'oversight': the agent that composes an email "
            "must not be able to approve it. Create two keys."
        )
    return [s for s in SCOPES if s in scopes]


def issue_key(
    store: Store, tenant_id: str, name: str, scopes: Iterable[Scope], now: float
) -> tuple[Doc, str]:
    """Create a key for ``tenant_id``; the stored document and the raw key (shown once)."""
    raw = new_api_key()
    doc: Doc = {
        "id": new_id("key_"),
        "name": name,
        "prefix": raw[:PREFIX_LENGTH],
        "scopes": list(scopes),
        "created_at": iso(now),
        "last_used_at": None,
        "is_active": True,
        "_tenant": tenant_id,
    }
    with store.transaction():
        store.put("keys", doc, parent=tenant_id)
        store.put("key_index", {"id": key_hash(raw), "key_id": doc["id"], "tenant_id": tenant_id})
    return doc, raw


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries, from ``Authorization: Bearer`` or ``X-API-Key``."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    api_key = headers.get("x-api-key", "").strip()
    return api_key or None


def authenticate(store: Store, headers: Mapping[str, str], now: float) -> Caller:
    """The caller of a request; 401 when the key is missing, unknown or revoked."""
    raw = presented_key(headers)
    if raw is None:
        raise unauthorized("Missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'")
    with store.transaction():
        entry = store.get("key_index", key_hash(raw))
        key = None if entry is None else store.get("keys", entry["key_id"])
        if entry is None or key is None or not key.get("is_active"):
            raise unauthorized("Invalid or revoked API key")
        tenant = store.get("tenants", entry["tenant_id"])
        if tenant is None or not tenant.get("is_active", True):
            raise unauthorized("Invalid or revoked API key")
        key["last_used_at"] = iso(now)
        store.put("keys", key, parent=entry["tenant_id"])
    return Caller(entry["tenant_id"], key["id"], frozenset(key["scopes"]))
