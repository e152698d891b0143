"""What `MultiMailClient` and `AsyncMultiMailClient` share: configuration, request
building, response interpretation and the retry decisions. No I/O happens here."""

from __future__ import annotations

import json
import logging
import os
import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from mm_assistants._version import __version__
from mm_assistants.multimail.errors import APIStatusError, TransportError, error_from_response
from mm_assistants.multimail.retries import RetryPolicy, next_delay, parse_retry_after

DEFAULT_BASE_URL = "https://api.multimail.dev"
API_KEY_ENV = "MULTIMAIL_API_KEY"
BASE_URL_ENV = "MULTIMAIL_API_URL"
KEPT_HEADERS = ("content-type", "content-length", "retry-after", "x-request-id", "cf-ray")
SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: Failures that happen before a request leaves this machine: retrying cannot send twice.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
logger = logging.getLogger("mm_assistants.multimail")


@dataclass(frozen=True)
class ApiResponse:
    """A successful MultiMail answer."""

    status: int
    data: Any = None
    text: str = ""
    content: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None
    attempts: int = 1
    elapsed: float = 0.0
    truncated: bool = False

    def __repr__(self) -> str:
        return (
            f"ApiResponse(status={self.status}, attempts={self.attempts}, "
            f"bytes={len(self.content)}, request_id={self.request_id!r})"
        )


class ClientCore:
    """Configuration and decisions of the MultiMail clients."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        retry: RetryPolicy,
        user_agent: str | None,
        random: Callable[[], float] | None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        if not key:
            raise ValueError(
                f"no MultiMail API key: pass api_key=... or set the {API_KEY_ENV} environment "
                "variable"
            )
        url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(
                f"base_url must be an http(s) URL such as {DEFAULT_BASE_URL}, not {url!r}"
            )
        if not isinstance(retry, RetryPolicy):
            raise TypeError("retry takes a RetryPolicy")
        if timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self._api_key = key
        self.base_url = url
        self.timeout = timeout
        self.retry = retry
        self.user_agent = user_agent or f"mm-assistants/{__version__}"
        self._random = random or _random.random
        self._origin = (parsed.scheme, parsed.host, parsed.port)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key=<redacted>)"

    def _headers(self, authorized: bool = True) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if authorized:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def _same_origin(self, url: str) -> bool:
        parsed = httpx.URL(url)
        return (parsed.scheme, parsed.host, parsed.port) == self._origin

    @staticmethod
    def _retry_safe(method: str, body: Mapping[str, Any] | None, given: bool | None) -> bool:
        if given is not None:
            return given
        if method.upper() in SAFE_METHODS:
            return True
        return bool(body and body.get("idempotency_key"))

    def _delay_after_error(
        self, attempt: int, retry_safe: bool, exc: httpx.HTTPError
    ) -> float | None:
        never_sent = isinstance(exc, NEVER_SENT)
        if not isinstance(exc, httpx.TransportError):
            return None
        return next_delay(
            self.retry,
            attempt,
            retry_safe=retry_safe or never_sent,
            transport_error=True,
            random=self._random,
        )

    def _delay_after_status(
        self, attempt: int, retry_safe: bool, error: APIStatusError
    ) -> float | None:
        return next_delay(
            self.retry,
            attempt,
            retry_safe=retry_safe,
            status=error.status,
            retry_after=error.retry_after,
            random=self._random,
        )

    @staticmethod
    def _transport_error(
        exc: httpx.HTTPError, method: str, path: str, retry_safe: bool, attempts: int
    ) -> TransportError:
        unknown = not retry_safe and not isinstance(exc, NEVER_SENT)
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        message = f"{method} {path} {kind} after {attempts} attempt(s): {type(exc).__name__}"
        if unknown:
            message += (
                "; the request may have reached MultiMail, so its outcome is unknown: "
                "check before sending it again"
            )
        return TransportError(message, outcome_unknown=unknown, method=method, path=path)

    def _interpret(
        self, response: httpx.Response, method: str, path: str, attempts: int, started: float
    ) -> ApiResponse | APIStatusError:
        headers = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
        request_id = headers.get("x-request-id") or headers.get("cf-ray")
        data, text = _decode(response)
        elapsed = time.monotonic() - started
        logger.debug(
            "%s %s -> %s (attempt %d, %.1f ms)",
            method,
            path,
            response.status_code,
            attempts,
            elapsed * 1000,
        )
        if response.is_success:
            return ApiResponse(
                status=response.status_code,
                data=data,
                text=text,
                content=response.content,
                headers=headers,
                request_id=request_id,
                attempts=attempts,
                elapsed=elapsed,
            )
        body = data if data is not None else text
        return error_from_response(
            response.status_code,
            body,
            method=method,
            path=path,
            request_id=request_id,
            retry_after=parse_retry_after(response.headers.get("retry-after"), time.time()),
        )

    @staticmethod
    def _file_error(response: httpx.Response, url: str, body: bytes) -> APIStatusError:
        text = body[:500].decode("utf-8", "replace")
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        return error_from_response(
            response.status_code, parsed, method="GET", path=url.split("?", 1)[0]
        )

    @staticmethod
    def _file_answer(
        response: httpx.Response, content: bytes, truncated: bool, started: float
    ) -> ApiResponse:
        headers = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
        return ApiResponse(
            status=response.status_code,
            content=content,
            headers=headers,
            elapsed=time.monotonic() - started,
            truncated=truncated,
        )


def _decode(response: httpx.Response) -> tuple[Any, str]:
    if not response.content:
        return None, ""
    text = response.text
    if "json" in response.headers.get("content-type", "") or text[:1] in "{[":
        try:
            return json.loads(text), text
        except ValueError:
            pass
    return None, text
