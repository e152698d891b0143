"""The exception tree of the MultiMail client.

Every failure the API or the network causes is a `MultiMailError`::

    MultiMailError                 status, error, method, path, request_id, retry_after,
    │                              details, tool
    ├── APIStatusError             a non-2xx answer no subclass below claims (e.g. 418, 3xx)
    │   ├── BadRequestError        400, 422: malformed or invalid request
    │   ├── AuthenticationError    401: missing, wrong or revoked key
    │   ├── PermissionDeniedError  403: missing scope, or the mailbox's mode (read_only)
    │   ├── NotFoundError          404
    │   ├── ConflictError          409: duplicate reply, already decided, already sent
    │   ├── PayloadTooLargeError   413
    │   ├── RateLimitError         429: retry_after, is_quota, is_warmup
    │   ├── ServerError            5xx
    │   └── RedirectRefused        a download redirected off the API's origin (not followed)
    └── TransportError             connection errors and timeouts; outcome_unknown
        └── RequestCancelled       the caller's cancel event was set before (another) attempt

`error_from_response` picks the class for an answer. httpx's own exceptions are translated
in one place, `ClientCore._translate` in ``mm_assistants.multimail.core``, with the httpx
exception chained as ``__cause__``. Misuse of the library (a bad ``base_url``, no key) is a
`ValueError`/`TypeError` at construction instead, never a `MultiMailError`.

No message or attribute carries the API key: the client scrubs it from answers too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mm_assistants.multimail.retries import parse_retry_after

#: Response headers that identify a request in MultiMail's (or Cloudflare's) logs.
REQUEST_ID_HEADERS = ("x-request-id", "cf-ray")
_MAX_ERROR_TEXT = 500


class MultiMailError(Exception):
    """Root of every error the MultiMail client raises.

    ``str(error)`` reads like ``POST /v1/mailboxes/mbx_1/send -> 403: Mailbox is read_only``.
    ``error`` is the API's own ``error`` text; ``details`` holds the other fields of the
    error body (for a warm-up 429: ``warmup_stage``, ``daily_sent``, ``daily_limit``,
    ``hint``); ``request_id`` comes from an ``x-request-id`` or ``cf-ray`` header; ``tool``
    names the tool call that caused the request, when one did.
    """

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
        tool: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.method = method
        self.path = path
        self.request_id = request_id
        self.retry_after = retry_after
        self.details: Mapping[str, Any] = dict(details or {})
        self.tool = tool


class APIStatusError(MultiMailError):
    """MultiMail answered with a non-2xx status (the base of every status error)."""


class BadRequestError(APIStatusError):
    """400 or 422: the request was malformed or failed the API's validation."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key lacks the scope, or the mailbox's oversight mode forbids the action."""


class NotFoundError(APIStatusError):
    """404: no such resource for this account."""


class ConflictError(APIStatusError):
    """409: a duplicate, or a state that no longer allows the action."""


class PayloadTooLargeError(APIStatusError):
    """413: the body (often an attachment) is too large."""


class RateLimitError(APIStatusError):
    """429: too many requests, a new account's warm-up limit, or the plan's quota.

    ``retry_after`` holds the server's ``Retry-After`` in seconds, when it sent one.
    """

    @property
    def is_quota(self) -> bool:
        """True when the plan's quota is used up (waiting minutes will not help)."""
        return "quota" in (self.error or "").lower()

    @property
    def is_warmup(self) -> bool:
        """True when a new account's warm-up sending limit was reached (see ``details``)."""
        return "warmup_stage" in self.details


class ServerError(APIStatusError):
    """5xx: MultiMail (or a gateway in front of it) failed to answer."""


class RedirectRefused(APIStatusError):
    """A download (`MultiMailClient.fetch_url`) answered with a redirect that was not
    followed: to another origin than the API's own, over plain http to a remote host, or
    one hop too many. ``status`` is the redirect's (3xx); the target is not in the message
    (a signed link's query may be a credential)."""


class TransportError(MultiMailError):
    """The request did not complete: a refused or dropped connection, or a timeout.

    ``outcome_unknown`` is true when a state-changing request may have reached MultiMail
    before the failure (with an idempotency key, after its retries ran out): an email may
    or may not have been sent, and it must not be blindly sent again.
    """

    def __init__(self, message: str, *, outcome_unknown: bool = False, **context: Any) -> None:
        super().__init__(message, **context)
        self.outcome_unknown = outcome_unknown


class RequestCancelled(TransportError):
    """The caller's cancel event (``cancel=`` of ``send``/``request``/``fetch_url``) was
    set before a write's first attempt or before a retry, so no further attempt was made.

    ``outcome_unknown`` is false when no attempt can have been carried out (none was made,
    or the last was refused with a status); true when a write's last attempt failed on
    the wire after it may have reached MultiMail. The last failure, if any, is chained as
    ``__cause__``.
    """


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
    headers: Mapping[str, str],
    method: str,
    path: str,
    *,
    now: float | None = None,
    tool: str | None = None,
) -> APIStatusError:
    """The error for a non-2xx answer. Pure.

    ``body`` is the decoded JSON, the text, or ``None``; ``headers`` maps lower-case names
    to values. ``now`` (epoch seconds) lets an HTTP-date ``Retry-After`` be read.

    >>> str(error_from_response(403, {"error": "Mailbox is read_only"}, {}, "POST", "/v1/x"))
    'POST /v1/x -> 403: Mailbox is read_only'
    """
    cls = _BY_STATUS.get(status) or (ServerError if 500 <= status < 600 else APIStatusError)
    error, details = _read_body(body)
    message = f"{method} {path} -> {status}" + (f": {error}" if error else "")
    return cls(
        message,
        status=status,
        error=error,
        method=method,
        path=path,
        request_id=next((headers[h] for h in REQUEST_ID_HEADERS if headers.get(h)), None),
        retry_after=parse_retry_after(headers.get("retry-after"), now),
        details=details,
        tool=tool,
    )


def _read_body(body: Any) -> tuple[str | None, dict[str, Any]]:
    if isinstance(body, Mapping):
        raw = body.get("error")
        if isinstance(raw, Mapping):  # some gateways nest {"error": {"message": ...}}
            raw = raw.get("message")
        error = None if raw is None else str(raw)[:_MAX_ERROR_TEXT]
        return error, {str(k): v for k, v in body.items() if k != "error"}
    if isinstance(body, str) and body.strip():
        # A proxy's HTML or text page: keep a readable start of it, on one line.
        return " ".join(body.split())[:_MAX_ERROR_TEXT], {}
    return None, {}
