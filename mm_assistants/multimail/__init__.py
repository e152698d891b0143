"""MultiMail's API over HTTP: the sync and async clients, the retry policy, the answer type
and the exception tree (drawn in `mm_assistants.multimail.errors`).

Example::

    from mm_assistants.multimail import MultiMailClient, PermissionDeniedError, RetryPolicy

    with MultiMailClient(retry=RetryPolicy(max_attempts=5)) as client:
        try:
            client.request("POST", "/v1/mailboxes/mbx_1/send", json={...})
        except PermissionDeniedError as error:   # e.g. the mailbox is read_only
            print(error.status, error.error)
"""

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
    RedirectRefused,
    RequestCancelled,
    ServerError,
    TransportError,
)
from mm_assistants.multimail.retries import RetryPolicy
from mm_assistants.multimail.types import ApiResponse

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
    "RedirectRefused",
    "RequestCancelled",
    "RetryPolicy",
    "ServerError",
    "TransportError",
]
