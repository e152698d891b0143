"""`create_review_app`: the review queue as a small web page for people, an ASGI app to mount.

Paths, relative to wherever it is mounted:

- ``GET /``: the page (inline CSS and JS, nothing fetched from elsewhere). It lists the
  held emails (recipients, subject, first lines, age) with a reason field and Approve and
  Reject buttons, and refreshes the list every ``refresh_seconds`` and after each decision,
  so decisions made elsewhere show up.
- ``GET /api/pending``: ``{"emails": [row, ...]}``, rows as
  `mm_assistants.review.queue.PendingRow.as_dict` gives them, oldest first. A row's
  ``original`` is the email a held reply answers (``{id, from, subject, preview,
  received_at}``, untrusted: an outside sender wrote it), shown beside the reply, when the
  backend is an `OriginalSource` and found it; otherwise ``null``.
- ``POST /api/decide {email_id, action: approve|reject, reason?}``: the backend's answer
  as ``{id, action, status}``. A rejection needs a reason. The request must carry
  ``X-Review-Request: 1`` and ``X-Review-Token: <the page's token>``: the page's script
  sends both, while a form on another site can send neither (and a cross-site script
  would need a CORS preflight this app never grants, and could not read the token). A
  browser's ``Origin`` and ``Sec-Fetch-Site`` must say the page itself sent it.

Every path answers only requests whose ``Host`` is one of ``allowed_hosts`` (default: the
loopback names, any port), so a name rebound to 127.0.0.1 reaches nothing (400). Behind a
real name, pass it: ``create_review_app(queue, allowed_hosts=["review.example.com"])``.
See `mm_assistants.review.origin` for the three checks.

``sandbox=True`` shows a banner saying the page decides the local sandbox's emails only.

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

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mm_assistants.review import origin
from mm_assistants.review.backend import OriginalSource, ReviewBackend, ReviewError
from mm_assistants.review.origin import cross_site, host_allowed, new_token, tokens_match
from mm_assistants.review.page import review_page
from mm_assistants.review.queue import check_decision, clean, pending_rows
from mm_assistants.review.untrusted import printable

#: The header a decision must carry (with the value ``1``).
CSRF_HEADER = "X-Review-Request"
#: The header that carries the page's token with a decision.
TOKEN_HEADER = "X-Review-Token"
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
    allowed_hosts: Iterable[str] | None = None,
    sandbox: bool = False,
) -> Starlette:
    """The review page and its JSON API over ``backend`` (see the module docstring).

    ``clock`` gives unix seconds for the ages shown; ``refresh_seconds`` is how often the
    page looks at the queue again; ``allowed_hosts`` the names the page answers to
    (default: ``localhost``, ``127.0.0.1``, ``[::1]``; ``*.example.com`` for subdomains);
    ``sandbox`` marks the page as the sandbox's with a visible banner.
    """
    if not isinstance(backend, ReviewBackend):
        raise TypeError(f"backend needs async pending() and decide(), got {type(backend).__name__}")
    if not math.isfinite(refresh_seconds) or refresh_seconds <= 0:
        raise ValueError(f"refresh_seconds must be a positive number, not {refresh_seconds!r}")
    hosts = origin.allowed_hosts(allowed_hosts)
    # one token per app: every page load carries it, and only a page served here can read it
    token = new_token()
    page = review_page(round(refresh_seconds * 1000))
    html = page.html.replace("{{token}}", token).replace(
        "{{sandbox_hidden}}", "" if sandbox else "hidden"
    )

    views = _ReviewViews(backend, clock, hosts, token, html, page.csp)
    return Starlette(
        routes=[
            Route("/", views.index, methods=["GET"]),
            Route("/api/pending", views.pending, methods=["GET"]),
            Route("/api/decide", views.decide, methods=["POST"]),
        ]
    )


class _ReviewViews:
    """The page's three endpoints over one backend; each answers only an allowed Host."""

    def __init__(
        self,
        backend: ReviewBackend,
        clock: Callable[[], float],
        hosts: frozenset[str],
        token: str,
        html: str,
        csp: str,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.hosts = hosts
        self.token = token
        self.html = html
        self.csp = csp

    async def index(self, request: Request) -> Response:
        if not host_allowed(request.headers.get("host"), self.hosts):
            return _unknown_host()
        headers = {**_HEADERS, "Content-Security-Policy": self.csp}
        return HTMLResponse(self.html, headers=headers)

    async def pending(self, request: Request) -> Response:
        if not host_allowed(request.headers.get("host"), self.hosts):
            return _unknown_host()
        try:
            emails = await self.backend.pending()
        except ReviewError as exc:
            return _refused(exc)
        except Exception:  # noqa: BLE001 -- any backend failure is a 500 sentence, logged in full
            return _failed("reading the queue")
        originals = await _originals(self.backend, emails)
        rows = pending_rows(emails, self.clock(), originals)
        return _json({"emails": [row.as_dict() for row in rows]})

    async def decide(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        try:
            email_id, action, reason = decision_of(await request.body())
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            answer = await self.backend.decide(email_id, action, reason)
        except ReviewError as exc:
            return _refused(exc)
        except Exception:  # noqa: BLE001 -- any backend failure is a 500 sentence, logged in full
            return _failed("deciding")
        status = answer.get("status")
        shown = clean(str(status)) if status is not None else None
        return _json({"id": clean(email_id), "action": action, "status": shown})

    def _refusal(self, request: Request) -> JSONResponse | None:
        """Why a decision request is refused before its body is read, or ``None``: the
        Host, then the page's header, then the origin, then the page's token."""
        if not host_allowed(request.headers.get("host"), self.hosts):
            return _unknown_host()
        if request.headers.get(CSRF_HEADER) != "1":
            return _error(
                403, f"a decision needs the {CSRF_HEADER} header: send it from the review page"
            )
        elsewhere = cross_site(request.headers)
        if elsewhere is not None:
            return _error(403, elsewhere)
        if not tokens_match(request.headers.get(TOKEN_HEADER), self.token):
            return _error(
                403,
                f"a decision needs the page's token in {TOKEN_HEADER}: reload the review page",
            )
        return None


def decision_of(raw: bytes) -> tuple[str, str, str | None]:
    """``(email_id, action, reason)`` from a decision's JSON body; a `ValueError` says what
    is wrong with it (the page shows it as a 400)."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValueError("the body must be JSON") from None
    email_id = body.get("email_id") if isinstance(body, dict) else None
    if not isinstance(email_id, str) or not email_id.strip():
        raise ValueError("email_id must be a non-empty string")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ValueError("reason must be a string")
    action, reason = check_decision(str(body.get("action")), reason)
    return email_id.strip(), action, reason


async def _originals(
    backend: ReviewBackend, emails: Sequence[Mapping[str, Any]]
) -> dict[str, Mapping[str, Any] | None]:
    """The email each held one answers, by held id, when the backend can tell."""
    if not isinstance(backend, OriginalSource):
        return {}
    ids = [str(email.get("id")) for email in emails if isinstance(email, Mapping)]
    found = await asyncio.gather(
        *(backend.original(email) for email in emails if isinstance(email, Mapping)),
        return_exceptions=True,
    )
    originals: dict[str, Mapping[str, Any] | None] = {}
    for email_id, original in zip(ids, found, strict=True):
        if isinstance(original, BaseException):
            # the queue matters more than the context: show the reply alone
            logger.warning("could not find the email %s answers", printable(email_id))
            original = None
        originals[email_id] = original if isinstance(original, Mapping) else None
    return originals


def _json(doc: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(doc, status_code=status, headers=_HEADERS)


def _error(status: int, message: str) -> JSONResponse:
    return _json({"error": message}, status)


def _refused(exc: ReviewError) -> JSONResponse:
    return _error(exc.status if exc.status in _PASSED_ON else 502, printable(str(exc)))


def _unknown_host() -> JSONResponse:
    # the Host is not echoed: it is the attacker's text
    return _error(400, "this review page does not answer to that Host name")


def _failed(doing: str) -> JSONResponse:
    # The page gets a plain sentence; the traceback goes to the operator's log.
    logger.exception("the review backend failed while %s", doing)
    return _error(500, f"the review backend failed while {doing}; see the server log")
