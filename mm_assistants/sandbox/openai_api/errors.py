"""OpenAI's error answers: ``{"error": {"message", "type", "param", "code"}}``.

Handlers raise `ApiError`; the endpoint wrapper turns it into the JSON body, so the SDK
raises the matching ``openai.APIStatusError`` subclass (400 → ``BadRequestError``, 404 →
``NotFoundError``) with the message below in ``exc.body["message"]``.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class ApiError(Exception):
    """An answer other than 2xx, in OpenAI's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI sends for this error."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        """The HTTP answer."""
        return JSONResponse(self.body(), status_code=self.status)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    """A 400 ``invalid_request_error``."""
    return ApiError(400, message, param=param, code=code)


def not_found(kind: str, object_id: str) -> ApiError:
    """OpenAI's 404 for an unknown id, e.g. ``No thread found with id 'thread_x'.``"""
    return ApiError(404, f"No {kind} found with id '{object_id}'.")


def missing(param: str) -> ApiError:
    """The 400 for a required parameter that was not sent."""
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def invalid_type(param: str, expected: str) -> ApiError:
    """The 400 for a parameter of the wrong JSON type."""
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}.",
        param=param,
        code="invalid_type",
    )
