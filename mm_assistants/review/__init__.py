"""The review queue for people: the held emails of ``gated_send`` mailboxes, and a person's
approve or reject.

- `mm_assistants.review.queue` and `mm_assistants.review.text`: pure, a held email as a
  row (recipients, subject, first lines, age), the terminal table, decision checks;
- `create_review_app`: a web page and JSON API to mount in any ASGI app, over a
  `ReviewBackend` (an `OriginalSource` also shows the email each held reply answers);
- `OversightQueue` / `AsyncOversightQueue`: MultiMail's oversight endpoints with an
  oversight-scoped key (behind ``mm-assistants approvals`` and a real review page).

Example::

    from mm_assistants.multimail import AsyncMultiMailClient
    from mm_assistants.review import AsyncOversightQueue, create_review_app

    app = create_review_app(AsyncOversightQueue(AsyncMultiMailClient()))

Names load on first use: the web page needs Starlette (extra ``sandbox``), and the
sandbox mounts the page without loading the MultiMail client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mm_assistants.review.app import create_review_app
    from mm_assistants.review.backend import OriginalSource, ReviewBackend, ReviewError
    from mm_assistants.review.oversight import AsyncOversightQueue, OversightQueue
    from mm_assistants.review.queue import (
        OriginalRow,
        PendingRow,
        check_decision,
        pending_row,
        pending_rows,
    )
    from mm_assistants.review.text import render_message, render_table

_EXPORTS = {
    "AsyncOversightQueue": "mm_assistants.review.oversight",
    "OriginalRow": "mm_assistants.review.queue",
    "OriginalSource": "mm_assistants.review.backend",
    "OversightQueue": "mm_assistants.review.oversight",
    "PendingRow": "mm_assistants.review.queue",
    "ReviewBackend": "mm_assistants.review.backend",
    "ReviewError": "mm_assistants.review.backend",
    "check_decision": "mm_assistants.review.queue",
    "create_review_app": "mm_assistants.review.app",
    "pending_row": "mm_assistants.review.queue",
    "pending_rows": "mm_assistants.review.queue",
    "render_message": "mm_assistants.review.text",
    "render_table": "mm_assistants.review.text",
}

__all__ = [
    "AsyncOversightQueue",
    "OriginalRow",
    "OriginalSource",
    "OversightQueue",
    "PendingRow",
    "ReviewBackend",
    "ReviewError",
    "check_decision",
    "create_review_app",
    "pending_row",
    "pending_rows",
    "render_message",
    "render_table",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
