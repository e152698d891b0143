"""SQLite storage of the MultiMail sandbox, one ``mm_`` table per kind (see `DocStore`).

Parents: a tenant for its mailboxes, keys, contacts, suppressions, webhooks, audit entries,
usage days and codes; a mailbox for its emails and idempotency keys; an email for its
attachment contents (``blobs``). Kinds under the empty parent are indexes: ``key_index``
(key hash → key), ``timers`` (emails with a pending clock-driven change), ``wire`` (what
left the sandbox: deliveries and operator copies) and ``sandbox`` (the seed).
"""

from __future__ import annotations

from mm_assistants.sandbox.docstore import Doc, DocStore, public

KINDS = (
    "tenants",
    "mailboxes",
    "keys",
    "key_index",
    "emails",
    "blobs",
    "timers",
    "idempotency",
    "contacts",
    "suppressions",
    "webhooks",
    "audit",
    "usage",
    "codes",
    "wire",
    "sandbox",
)

__all__ = ["KINDS", "Doc", "Store", "public"]


class Store(DocStore):
    """The ``mm_*`` tables in one SQLite file."""

    def __init__(self, path: str) -> None:
        super().__init__(path, prefix="mm_", kinds=KINDS)
