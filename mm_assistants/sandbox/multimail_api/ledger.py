"""The tenant's books: the audit log and the usage counters.

Every state change writes an audit entry naming the key *id* that made it (``operator``
for the sandbox's own controls), never the key. Usage is counted per UTC day in one
document per tenant and day, so ``/v1/usage`` and the account's monthly count are sums.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from mm_assistants.sandbox.docstore import Doc
from mm_assistants.sandbox.multimail_api.formats import day, iso, new_id
from mm_assistants.sandbox.multimail_api.store import Store

UsageEvent = Literal["emails_sent", "emails_received", "api_calls", "oversight_actions"]
USAGE_EVENTS: tuple[UsageEvent, ...] = (
    "emails_sent",
    "emails_received",
    "api_calls",
    "oversight_actions",
)
OPERATOR = "operator"  # the actor of decisions taken through the sandbox's controls


def audit(
    store: Store,
    tenant_id: str,
    actor_key_id: str,
    action: str,
    resource_type: str,
    resource_id: str,
    now: float,
    metadata: Mapping[str, Any] | None = None,
) -> Doc:
    """Record one state change, e.g. ``audit(store, t, key_id, "email.sent", "email", id)``."""
    entry: Doc = {
        "id": new_id("aud_"),
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "actor_key_id": actor_key_id,
        "metadata": dict(metadata) if metadata else None,
        "created_at": iso(now),
    }
    return store.put("audit", entry, parent=tenant_id)


def count(store: Store, tenant_id: str, event: UsageEvent, now: float, n: int = 1) -> None:
    """Add ``n`` to today's counter of ``event``."""
    with store.transaction():
        doc_id = f"{tenant_id}:{day(now)}"
        doc = store.get("usage", doc_id) or {"id": doc_id, "date": day(now)}
        doc[event] = int(doc.get(event, 0)) + n
        store.put("usage", doc, parent=tenant_id)


def usage_days(store: Store, tenant_id: str, start: float, end: float) -> list[Doc]:
    """The tenant's day counters whose day lies between ``start`` and ``end``."""
    first, last = day(start), day(end)
    return [d for d in store.children("usage", tenant_id) if first <= d["date"] <= last]


def totals(days: list[Doc]) -> dict[str, int]:
    """The four counters summed over ``days``."""
    return {event: sum(int(d.get(event, 0)) for d in days) for event in USAGE_EVENTS}
