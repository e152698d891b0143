"""MultiMail's error answers: ``{"error": "..."}`` with 400/401/403/404/409/413/422/429.

Handlers raise `ApiError`; the route wrapper turns it into the JSON body. A 429 carries a
``Retry-After`` header in seconds. Messages never contain a key or signing secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse


class ApiError(Exception):
    """An answer other than 2xx, in MultiMail's error shape.

    ``extra`` adds fields beside ``error`` (the warm-up 429 has ``warmup_stage``, ...).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The JSON body MultiMail sends for this error."""
        return {"error": self.message, **self.extra}

    def response(self) -> JSONResponse:
        """The HTTP answer."""
        headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def bad_request(message: str) -> ApiError:
    """A 400: the request itself is wrong."""
    return ApiError(400, message)


def unauthorized(message: str = "Missing or invalid API key") -> ApiError:
    """A 401: no key, or one the server does not know."""
    return ApiError(401, message)


def forbidden(message: str) -> ApiError:
    """A 403: the key may not do this, or the mailbox's mode forbids it."""
    return ApiError(403, message)


def missing_scope(scope: str) -> ApiError:
    """The 403 for a key without the scope a route needs."""
    return ApiError(403, f"Insufficient scope: this endpoint requires the '{scope}' scope")


def not_found(what: str) -> ApiError:
    """A 404, e.g. ``not_found("Email")`` → ``Email not found``."""
    return ApiError(404, f"{what} not found")


def conflict(message: str) -> ApiError:
    """A 409: the object is not in a state that allows this."""
    return ApiError(409, message)


def unprocessable(message: str) -> ApiError:
    """A 422: well-formed, but refused (e.g. a suppressed recipient)."""
    return ApiError(422, message)


def too_many(message: str, retry_after: int) -> ApiError:
    """A 429 with ``Retry-After``."""
    return ApiError(429, message, retry_after=max(1, retry_after))
