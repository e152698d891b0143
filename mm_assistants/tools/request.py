"""`RequestSpec`: the HTTP request a tool call binds to, before any I/O happens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestSpec:
    """One MultiMail HTTP request, fully decided but not yet sent.

    ``path`` is already URL-encoded and relative to the API's base URL (``/v1/...``).
    ``params`` holds the query string, ``json`` the body (``None`` when there is none).
    ``retry_safe`` says whether sending it twice can change nothing the caller did not
    intend: true for reads and naturally idempotent writes, and for state-changing POSTs
    that carry an ``idempotency_key``.

    Example: ``RequestSpec(tool="read_email", method="GET",
    path="/v1/mailboxes/mbx_1/emails/em_1", retry_safe=True)``.
    """

    tool: str
    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None
    retry_safe: bool = False

    @property
    def idempotency_key(self) -> str | None:
        """The body's ``idempotency_key``, when the request carries one."""
        if self.json is None:
            return None
        key = self.json.get("idempotency_key")
        return key if isinstance(key, str) else None

    def __repr__(self) -> str:
        # Bodies may hold whole emails; a repr shows their shape, never their content.
        body = "None" if self.json is None else f"<{len(self.json)} fields>"
        return (
            f"RequestSpec(tool={self.tool!r}, method={self.method!r}, path={self.path!r}, "
            f"params={dict(self.params)!r}, json={body}, retry_safe={self.retry_safe!r})"
        )
