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

from mm_assistants.review.origin import allowed_hosts, host_allowed, tokens_match

#: The header that carries the control token.
TOKEN_HEADER = "X-Sandbox-Token"
#: The environment variable `Sandbox.environment` and ``mm-assistants sandbox`` give it in.
TOKEN_VARIABLE = "MM_SANDBOX_TOKEN"
#: The paths (whole segments) that are controls.
CONTROL_PREFIXES: tuple[str, ...] = ("/sandbox", "/openai/v1/_emulator")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ControlRefusal(NamedTuple):
    """Why a control request is refused: the status and a sentence for the caller."""

    status: int
    message: str


def control_refusal(
    method: str, headers: Mapping[str, str], token: str, hosts: frozenset[str]
) -> ControlRefusal | None:
    """The refusal of one control request, or ``None`` to let it through (module
    docstring). ``headers`` is case-insensitive or lower-cased."""
    if not host_allowed(headers.get("host"), hosts):
        # the Host is not echoed: it is the caller's text
        return ControlRefusal(403, "the sandbox's controls do not answer to that Host name")
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


def is_control(path: str, prefixes: Iterable[str] = CONTROL_PREFIXES) -> bool:
    """Whether ``path`` is one of the controls (``/sandbox/x``, not ``/sandboxes``)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


class ControlGuard:
    """ASGI middleware that applies `control_refusal` to the control paths.

    ``token`` is the control token; ``hosts`` the names allowed (default: loopback).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        hosts: Iterable[str] | None = None,
        prefixes: Iterable[str] = CONTROL_PREFIXES,
    ) -> None:
        if not isinstance(token, str) or len(token) < 16:
            raise ValueError("the control token must be a random string of 16 or more characters")
        self.app = app
        self._token = token
        self._hosts = allowed_hosts(hosts)
        self._prefixes = tuple(prefix.rstrip("/") for prefix in prefixes)

    def __repr__(self) -> str:
        return f"ControlGuard(hosts={sorted(self._hosts)!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a control request that fails a check; pass everything else on."""
        if scope["type"] == "http" and is_control(scope["path"], self._prefixes):
            refusal = control_refusal(
                scope["method"], Headers(scope=scope), self._token, self._hosts
            )
            if refusal is not None:
                answer = JSONResponse({"error": refusal.message}, status_code=refusal.status)
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
