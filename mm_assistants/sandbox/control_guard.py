"""`ControlGuard`: the sandbox's control routes answer only the sandbox's own callers.

The controls (``/sandbox/...`` and ``/openai/v1/_emulator/...``) can inject an inbound
email, decide held mail, move the clock, install faults and hand out the seeded keys.
Without a guard, any web page the developer opens could use them: a ``<form
enctype="text/plain">`` posts JSON-looking text cross-site without a CORS preflight, and a
name rebound to 127.0.0.1 makes the page same-origin with the sandbox. So each control
request must pass, in this order (`control_refusal`, pure):

1. a ``Host`` among the allowed names (loopback ones by default, any port): 403;
2. the per-start control token in ``X-Sandbox-Token`` (compared in constant time): 403.
   A page elsewhere cannot know it, and sending the header needs a preflight the
   sandbox never grants;
3. a body declared ``application/json`` on ``POST``/``PUT``/``PATCH`` (and on any request
   that declares a type): 415. A cross-site form can only send ``text/plain``,
   urlencoded or multipart.

**Bearer links.** A billing link (`LINK_PREFIXES`: ``/sandbox/billing/checkout/<token>``
and ``/sandbox/billing/portal/<id>``, exactly one segment after the prefix) is what a
person opens in a browser, like Stripe's pages, so it needs no control token; its own
random segment is the capability (an unknown one is a 404 from the route). Everything else
still holds for it, and a little more (`link_refusal`):

- the ``Host`` check stays (DNS rebinding: a rebound name still says its own Host, 403);
- ``GET`` and ``HEAD`` change nothing, so a link previewer or a prefetch pays nothing: the
  page shows a form, and paying is its ``POST``;
- a ``POST`` may be a form (``application/x-www-form-urlencoded``), JSON or bodiless;
  ``text/plain`` and multipart are 415;
- CSRF: a page elsewhere cannot name the link (it cannot guess the token), and one that
  holds the link could pay with it directly, so cross-site posting gains nothing. Still, a
  ``POST`` whose browser says it came from another site (``Origin`` other than the Host,
  or ``Sec-Fetch-Site`` not ``same-origin``) is refused (403), so a leaked link cannot
  make the operator's own browser submit from elsewhere; the page also refuses framing.

The token is made when the sandbox starts (`mm_assistants.sandbox.Sandbox.control_token`,
also its ``environment()``'s ``MM_SANDBOX_TOKEN``, printed by ``mm-assistants sandbox``).
It is a secret like the keys: it never appears in a repr or an error. The rest of the
sandbox (the MultiMail API with its keys, the OpenAI emulator, ``/health``, the review page
with its own checks) is not guarded here.

Example::

    Starlette(routes=..., middleware=[Middleware(ControlGuard, token=new_token())])
    httpx.post(f"{sb.base_url}/sandbox/inbound", json={...}, headers=sb.control_headers)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mm_assistants.review.origin import allowed_hosts, cross_site, host_allowed, tokens_match

#: The header that carries the control token.
TOKEN_HEADER = "X-Sandbox-Token"
#: The environment variable `Sandbox.environment` and ``mm-assistants sandbox`` give it in.
TOKEN_VARIABLE = "MM_SANDBOX_TOKEN"
#: The paths (whole segments) that are controls.
CONTROL_PREFIXES: tuple[str, ...] = ("/sandbox", "/openai/v1/_emulator")
#: The bearer links under the controls that need no token (see the module docstring).
LINK_PREFIXES: tuple[str, ...] = ("/sandbox/billing/checkout", "/sandbox/billing/portal")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_SAFE_METHODS = frozenset({"GET", "HEAD"})
# what a link's page form (or a script paying it) sends; no text/plain, no multipart
_LINK_MEDIA = frozenset({"application/x-www-form-urlencoded", "application/json"})


class ControlRefusal(NamedTuple):
    """Why a control request is refused: the status and a sentence for the caller."""

    status: int
    message: str


def control_refusal(
    method: str,
    headers: Mapping[str, str],
    token: str,
    hosts: frozenset[str],
    *,
    link: bool = False,
) -> ControlRefusal | None:
    """The refusal of one control request, or ``None`` to let it through (module
    docstring). ``headers`` is case-insensitive or lower-cased; ``link``: the path is a
    bearer link (`is_link`), checked by `link_refusal` instead of the token."""
    if not host_allowed(headers.get("host"), hosts):
        # the Host is not echoed: it is the caller's text
        return ControlRefusal(403, "the sandbox's controls do not answer to that Host name")
    if link:
        return link_refusal(method, headers)
    if not tokens_match(headers.get(TOKEN_HEADER.lower()), token):
        return ControlRefusal(
            403,
            f"the sandbox's controls need the {TOKEN_HEADER} header: its value is "
            f"${TOKEN_VARIABLE} as `mm-assistants sandbox` prints it, or Sandbox().control_token",
        )
    content_type = headers.get("content-type")
    if method.upper() in _BODY_METHODS or content_type is not None:
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            return ControlRefusal(
                415, "the sandbox's controls take JSON: Content-Type must be application/json"
            )
    return None


def link_refusal(method: str, headers: Mapping[str, str]) -> ControlRefusal | None:
    """The refusal of a request to a bearer link whose Host passed, or ``None`` (module
    docstring: no token; a form, JSON or no body; a POST only from the link's own page)."""
    content_type = headers.get("content-type")
    if content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in _LINK_MEDIA:
            return ControlRefusal(415, "a billing link takes its page's form or JSON, nothing else")
    if method.upper() not in _SAFE_METHODS and cross_site(headers) is not None:
        return ControlRefusal(403, "a billing link's form posts only from its own page")
    return None


def is_link(path: str, prefixes: Iterable[str] = LINK_PREFIXES) -> bool:
    """Whether ``path`` is one bearer link: one non-empty segment right under a prefix
    (``/sandbox/billing/checkout/pay_x``, not the prefix itself nor anything deeper)."""
    for prefix in prefixes:
        head, slash, rest = path.partition(prefix + "/")
        if not head and slash and rest and "/" not in rest:
            return True
    return False


def is_control(path: str, prefixes: Iterable[str] = CONTROL_PREFIXES) -> bool:
    """Whether ``path`` is one of the controls (``/sandbox/x``, not ``/sandboxes``)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


class ControlGuard:
    """ASGI middleware that applies `control_refusal` to the control paths.

    ``token`` is the control token; ``hosts`` the names allowed (default: loopback);
    ``links`` the prefixes of the bearer links that need no token (`is_link`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        hosts: Iterable[str] | None = None,
        prefixes: Iterable[str] = CONTROL_PREFIXES,
        links: Iterable[str] = LINK_PREFIXES,
    ) -> None:
        if not isinstance(token, str) or len(token) < 16:
            raise ValueError("the control token must be a random string of 16 or more characters")
        self.app = app
        self._token = token
        self._hosts = allowed_hosts(hosts)
        self._prefixes = tuple(prefix.rstrip("/") for prefix in prefixes)
        self._links = tuple(prefix.rstrip("/") for prefix in links)

    def __repr__(self) -> str:
        return f"ControlGuard(hosts={sorted(self._hosts)!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a control request that fails a check; pass everything else on."""
        if scope["type"] == "http" and is_control(scope["path"], self._prefixes):
            refusal = control_refusal(
                scope["method"],
                Headers(scope=scope),
                self._token,
                self._hosts,
                link=is_link(scope["path"], self._links),
            )
            if refusal is not None:
                answer = JSONResponse({"error": refusal.message}, status_code=refusal.status)
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
