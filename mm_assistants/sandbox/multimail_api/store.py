"""SQLite storage of the MultiMail sandbox, one ``mm_`` table per kind (see `DocStore`).

Parents: a tenant for its mailboxes, keys, contacts, suppressions, webhooks, audit entries,
usage days, codes and billing sessions; a mailbox for its emails and idempotency keys; an
email for its attachment contents (``blobs``). Kinds under the empty parent are indexes:
``key_index`` (key hash → key), ``timers`` (emails with a pending clock-driven change),
``wire`` (what left the sandbox: deliveries and operator copies), ``pow_used`` (redeemed
signup challenges) and ``sandbox`` (the seed and the sandbox's own signing secret).
"""

from __future__ import annotations

import secrets

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
    "billing",
    "pow_used",
    "sandbox",
)

__all__ = ["KINDS", "Doc", "Store", "public"]


class Store(DocStore):
    """The ``mm_*`` tables in one SQLite file."""

    def __init__(self, path: str) -> None:
        super().__init__(path, prefix="mm_", kinds=KINDS)

    def secret(self) -> str:
        """This sandbox's own signing secret (signup challenges, identity claims), made on
        first use and kept in the file, so a restarted app still verifies what it signed."""
        with self.transaction():
            record = self.get("sandbox", _SECRET_ID)
            if record is None:
                record = self.put("sandbox", {"id": _SECRET_ID, "value": secrets.token_hex(32)})
        value: str = record["value"]
        return value


_SECRET_ID = "secret"
