"""`create_review_app`: the review queue as a small web page for people, an ASGI app to mount.

Paths, relative to wherever it is mounted:

- ``GET /``: the page (inline CSS and JS, nothing fetched from elsewhere). It lists the
  held emails (recipients, subject, first lines, age) with a reason field and Approve and
  Reject buttons, and refreshes the list every ``refresh_seconds`` and after each decision,
  so decisions made elsewhere show up.
- ``GET /api/pending``: ``{"emails": [row, ...]}``, rows as
  `mm_assistants.review.queue.PendingRow.as_dict` gives them, oldest first.
- ``POST /api/decide {email_id, action: approve|reject, reason?}``: the backend's answer
  as ``{id, action, status}``. A rejection needs a reason. The request must carry
  ``X-Review-Request: 1``: the page's script sends it, while a form on another site cannot
  (and a cross-site script would need a CORS preflight this app never grants).

Errors are ``{"error": message}``, the message written for the reviewer; no key or
backend detail beyond it. The app has no login of its own: mount it behind yours.

Example::

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from mm_assistants.multimail import AsyncMultiMailClient
    from mm_assistants.review import AsyncOversightQueue, create_review_app

    queue = AsyncOversightQueue(AsyncMultiMailClient())   # an oversight-scoped key
    app = Starlette(routes=[Mount("/review", app=create_review_app(queue))])
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mm_assistants.review.backend import ReviewBackend, ReviewError
from mm_assistants.review.page import review_page
from mm_assistants.review.queue import check_decision, pending_rows

#: The header a decision must carry (with the value ``1``).
CSRF_HEADER = "X-Review-Request"
#: Statuses a backend's refusal keeps; any other becomes 502, the backend's failure.
_PASSED_ON = frozenset({400, 404, 409})
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

logger = logging.getLogger("mm_assistants.review")


def create_review_app(
    backend: ReviewBackend,
    *,
    clock: Callable[[], float] = time.time,
    refresh_seconds: float = 1.5,
) -> Starlette:
    """The review page and its JSON API over ``backend`` (see the module docstring).

    ``clock`` gives unix seconds for the ages shown; ``refresh_seconds`` is how often the
    page looks at the queue again.
    """
    if not isinstance(backend, ReviewBackend):
        raise TypeError(f"backend needs async pending() and decide(), got {type(backend).__name__}")
    if not math.isfinite(refresh_seconds) or refresh_seconds <= 0:
        raise ValueError(f"refresh_seconds must be a positive number, not {refresh_seconds!r}")
    page = review_page(round(refresh_seconds * 1000))

    async def index(request: Request) -> Response:
        headers = {**_HEADERS, "Content-Security-Policy": page.csp}
        return HTMLResponse(page.html, headers=headers)

    async def pending(request: Request) -> Response:
        try:
            emails = await backend.pending()
        except ReviewError as exc:
            return _refused(exc)
        except Exception:
            return _failed("reading the queue")
        return _json({"emails": [row.as_dict() for row in pending_rows(emails, clock())]})

    async def decide(request: Request) -> Response:
        if request.headers.get(CSRF_HEADER) != "1":
            return _error(
                403, f"a decision needs the {CSRF_HEADER} header: send it from the review page"
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "the body must be JSON")
        email_id = body.get("email_id") if isinstance(body, dict) else None
        if not isinstance(email_id, str) or not email_id.strip():
            return _error(400, "email_id must be a non-empty string")
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            return _error(400, "reason must be a string")
        try:
            action, reason = check_decision(str(body.get("action")), reason)
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            answer = await backend.decide(email_id.strip(), action, reason)
        except ReviewError as exc:
            return _refused(exc)
        except Exception:
            return _failed("deciding")
        return _json({"id": email_id.strip(), "action": action, "status": answer.get("status")})

    return Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/api/pending", pending, methods=["GET"]),
            Route("/api/decide", decide, methods=["POST"]),
        ]
    )


def _json(doc: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(doc, status_code=status, headers=_HEADERS)


def _error(status: int, message: str) -> JSONResponse:
    return _json({"error": message}, status)


def _refused(exc: ReviewError) -> JSONResponse:
    return _error(exc.status if exc.status in _PASSED_ON else 502, str(exc))


def _failed(doing: str) -> JSONResponse:
    # The page gets a plain sentence; the traceback goes to the operator's log.
    logger.exception("the review backend failed while %s", doing)
    return _error(500, f"the review backend failed while {doing}; see the server log")
