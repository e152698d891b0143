"""MultiMail's API over HTTP: clients, the retry policy and the exception tree."""

from mm_assistants.multimail._core import ApiResponse
from mm_assistants.multimail.client import AsyncMultiMailClient, MultiMailClient
from mm_assistants.multimail.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    MultiMailError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TransportError,
)
from mm_assistants.multimail.retries import RetryPolicy

__all__ = [
    "APIStatusError",
    "ApiResponse",
    "AsyncMultiMailClient",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "MultiMailClient",
    "MultiMailError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "TransportError",
]
