"""SQLite storage of the emulator's objects, one ``oai_`` table per kind.

The storage itself is the sandbox's shared `DocStore` (see
`mm_assistants.sandbox.docstore`): JSON documents keyed by id, with a parent (a thread for
messages and runs, a run for steps) and a stable list order. Keys that start with ``_``
are the emulator's own bookkeeping and never leave the server (see `public`).
"""

from __future__ import annotations

from mm_assistants.sandbox.docstore import Doc, DocStore, public

# response_items: an output item's id -> the response that made it (see `history`)
KINDS = ("assistants", "threads", "messages", "runs", "steps", "responses", "response_items")

__all__ = ["KINDS", "Doc", "Store", "public"]


class Store(DocStore):
    """The ``oai_*`` tables in one SQLite file."""

    def __init__(self, path: str) -> None:
        super().__init__(path, prefix="oai_", kinds=KINDS)
