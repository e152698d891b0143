"""The exception tree of the MultiMail client. Every error the API or the network causes
is a `MultiMailError`; httpx's own exceptions are translated in one place
(`mm_assistants.multimail.client`), with the original chained as ``__cause__``::

    MultiMailError
    ├── APIStatusError            any other non-2xx answer
    │   ├── BadRequestError       400, 422
    │   ├── AuthenticationError   401
    │   ├── PermissionDeniedError 403 (missing scope, or the mailbox's mode, e.g. read_only)
    │   ├── NotFoundError         404
    │   ├── ConflictError         409 (duplicate reply, already decided, already sent)
    │   ├── PayloadTooLargeError  413
    │   ├── RateLimitError        429 (retry_after; warm-up and quota details)
    │   └── ServerError           5xx
    └── TransportError            connection errors and timeouts (outcome_unknown)

Errors carry ``status``, the API's ``error`` text, ``method``, ``path``, ``request_id``
and ``retry_after``; never the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class MultiMailError(Exception):
    """Root of every error the MultiMail client raises."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        method: str | None = None,
        path: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.method = method
        self.path = path
        self.request_id = request_id
        self.retry_after = retry_after
        self.details: Mapping[str, Any] = dict(details or {})


class APIStatusError(MultiMailError):
    """MultiMail answered with a non-2xx status."""


class BadRequestError(APIStatusError):
    """400 or 422: the request was malformed or failed the API's validation."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key lacks the scope, or the mailbox's oversight mode forbids the action."""


class NotFoundError(APIStatusError):
    """404: no such resource for this tenant."""


class ConflictError(APIStatusError):
    """409: a duplicate, or a state that no longer allows the action."""


class PayloadTooLargeError(APIStatusError):
    """413: the body (e.g. an attachment) is too large."""


class RateLimitError(APIStatusError):
    """429: too many requests, a warm-up limit or the plan's quota."""

    @property
    def is_quota(self) -> bool:
        """True when the monthly or plan quota is used up (waiting will not help soon)."""
        return "quota" in (self.error or "").lower()

    @property
    def is_warmup(self) -> bool:
        """True when a new account's warm-up sending limit was reached."""
        return "warmup_stage" in self.details


class ServerError(APIStatusError):
    """5xx: MultiMail failed to answer."""


class TransportError(MultiMailError):
    """The request did not complete: connection refused or reset, or a timeout.

    ``outcome_unknown`` is true when the request changes state, was not safe to retry and
    may have reached MultiMail: the email may or may not have been sent.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False, **context: Any) -> None:
        super().__init__(message, **context)
        self.outcome_unknown = outcome_unknown


_BY_STATUS: Mapping[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: BadRequestError,
    429: RateLimitError,
}


def error_from_response(
    status: int,
    body: Any,
    *,
    method: str,
    path: str,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> APIStatusError:
    """The error for a non-2xx answer; ``body`` is the decoded JSON (or text, or None)."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else APIStatusError)
    error: str | None = None
    details: dict[str, Any] = {}
    if isinstance(body, Mapping):
        raw = body.get("error")
        if isinstance(raw, Mapping):  # some gateways nest {"error": {"message": ...}}
            raw = raw.get("message")
        error = None if raw is None else str(raw)
        details = {str(k): v for k, v in body.items() if k != "error"}
    elif isinstance(body, str) and body.strip():
        error = body.strip()[:500]
    message = f"{method} {path} -> {status}" + (f": {error}" if error else "")
    return cls(
        message,
        status=status,
        error=error,
        method=method,
        path=path,
        request_id=request_id,
        retry_after=retry_after,
        details=details,
    )
