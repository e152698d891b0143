"""What `MultiMailClient` and `AsyncMultiMailClient` share: configuration, request
building, answer interpretation, the retry decisions and the one translation of httpx's
exceptions. Nothing here sends a byte; the shells in `client` do only that (and sleep)."""

from __future__ import annotations

import logging
import math
import os
import random as _random
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import httpx

from mm_assistants._version import __version__
from mm_assistants.multimail.errors import (
    REQUEST_ID_HEADERS,
    APIStatusError,
    RequestCancelled,
    TransportError,
    error_from_response,
)
from mm_assistants.multimail.log_redaction import install_log_redaction
from mm_assistants.multimail.outcome_advice import unknown_outcome_advice
from mm_assistants.multimail.redirects import http_url, next_hop, origin_of, shown_url
from mm_assistants.multimail.retries import RetryPolicy, next_delay
from mm_assistants.multimail.types import (
    REDACTED,
    ApiResponse,
    Call,
    Exchange,
    bare_url,
    decode_body,
    encode_json,
    scrub,
)

DEFAULT_BASE_URL = "https://api.multimail.dev"
API_KEY_ENV = "MULTIMAIL_API_KEY"
BASE_URL_ENV = "MULTIMAIL_API_URL"
#: Methods whose repetition changes nothing more than the first call did.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Failures raised before the request left this machine: repeating it cannot send twice.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# What `ClientCore.without_key` passes as the key; compared by identity, and a character no
# key may hold (``_api_key`` refuses it), so no key given by a user can ever be taken for it.
_WITHOUT_KEY = "\x00without a key"

logger = logging.getLogger("mm_assistants.multimail")

_Client = TypeVar("_Client", bound="ClientCore")


class CancelToken(Protocol):
    """What ``cancel=`` takes: a `threading.Event` (or anything alike) that the caller sets,
    from any thread, when nobody waits for the answer any more."""

    def is_set(self) -> bool:
        """True once cancelled."""
        ...  # pragma: no cover - a protocol

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or ``timeout`` seconds passed; True when cancelled."""
        ...  # pragma: no cover - a protocol


class ClientCore:
    """Configuration and every decision of the MultiMail clients."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        retry: RetryPolicy,
        user_agent: str | None,
        random: Callable[[], float] | None,
    ) -> None:
        # None only for `without_key`: no Authorization header at all, never an empty "Bearer "
        self._api_key = None if api_key is _WITHOUT_KEY else _api_key(api_key)
        self.base_url = _base_url(base_url)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout is a number of seconds, got {type(timeout).__name__}")
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry takes a RetryPolicy, got {type(retry).__name__}")
        self.timeout = float(timeout)
        self.retry = retry
        self.user_agent = user_agent or f"mm-assistants/{__version__}"
        self._random = random or _random.random
        self._origin = origin_of(httpx.URL(self.base_url))
        # httpx logs each request's full URL at INFO; signed download links must not land
        # in the application's logs with their token.
        install_log_redaction()

    @classmethod
    def without_key(cls: type[_Client], **options: Any) -> _Client:
        """A client that sends no API key, for MultiMail's endpoints that need none (signing
        up: ``request_challenge``, ``create_account``, ``activate_account``,
        ``resend_confirmation``); any other endpoint answers it with a 401. ``options`` are
        the constructor's other keyword arguments (``base_url``, ``timeout``, ...).

        ``MULTIMAIL_API_KEY`` is not read: a key for another account has no business on a
        signup's requests.
        """
        return cls(_WITHOUT_KEY, **options)

    @property
    def has_key(self) -> bool:
        """Whether requests carry an API key (False only for `without_key`)."""
        return self._api_key is not None

    def __repr__(self) -> str:
        shown = REDACTED if self._api_key is not None else None
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, api_key={shown}, "
            f"timeout={self.timeout!r}, retry={self.retry!r})"
        )

    # -- building requests ----------------------------------------------------------------

    def _api_call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Mapping[str, Any] | None,
        retry_safe: bool | None,
        tool: str | None = None,
    ) -> Call:
        """The `Call` for an API request; ``path`` is relative to ``base_url``."""
        if not path.startswith("/"):
            # An absolute URL here would carry the key to whatever host it names.
            raise ValueError(f"path must start with '/' (relative to base_url), got {path!r}")
        method = method.upper()
        if retry_safe is None:
            retry_safe = method in IDEMPOTENT_METHODS or bool(json and json.get("idempotency_key"))
        return Call(
            method=method,
            url=self.base_url + path,
            path=path,
            params=dict(params) if params else None,
            # Encoded once, so a retry repeats the very bytes (and idempotency key) it sent.
            body=None if json is None else encode_json(json),
            retry_safe=retry_safe,
            tool=tool,
        )

    def _file_call(self, url: str, max_bytes: int | None) -> Call:
        """The `Call` of a download; the key goes along only to ``base_url``'s origin."""
        if max_bytes is not None and (isinstance(max_bytes, bool) or max_bytes < 0):
            raise ValueError(f"max_bytes must be None or an integer >= 0, got {max_bytes!r}")
        relative = url.startswith("/")
        target = self.base_url + url if relative else url
        parsed = http_url(target)
        if parsed is None:
            raise ValueError("fetch_url takes an http(s) URL or a path starting with '/'")
        return Call(
            method="GET",
            url=target,
            path=bare_url(url) if relative else shown_url(parsed),
            params=None,
            body=None,
            retry_safe=True,
            authorized=origin_of(parsed) == self._origin,
            max_bytes=max_bytes,
            raw=True,
        )

    def _next_hop(self, call: Call, exchange: Exchange, hops: int) -> Call | None:
        """The download's next request, or ``None``: see `redirects.next_hop`."""
        return next_hop(call, exchange, hops, self._origin)

    def _cancelled(
        self, call: Call, attempts: int, cancel: CancelToken | None, last: Exception | None
    ) -> RequestCancelled | None:
        """The error to raise instead of attempt ``attempts + 1``, or ``None`` to go on.

        Once ``cancel`` is set, a write is not sent and nothing is tried again; a read's
        first attempt still goes (it changes nothing). ``last`` is the failure that made
        the client wait, if any: a write that failed on the wire may have run."""
        if cancel is None or not cancel.is_set():
            return None
        if attempts == 0 and call.method in IDEMPOTENT_METHODS:
            return None
        unknown = isinstance(last, httpx.HTTPError) and _may_have_run(call, last)
        if attempts == 0:
            message = f"{call.method} {call.path} was cancelled before it was sent"
            advice = "; nothing reached MultiMail."
        else:
            plural = "" if attempts == 1 else "s"
            message = (
                f"{call.method} {call.path} was cancelled after {attempts} failed attempt{plural}"
            )
            advice = "; no further attempt was made."
        if unknown:
            advice = unknown_outcome_advice(call.tool, call.path, retry_safe=call.retry_safe)
        return RequestCancelled(
            message + advice,
            outcome_unknown=unknown,
            method=call.method,
            path=call.path,
            tool=call.tool,
        )

    def _headers(self, call: Call) -> dict[str, str]:
        """The request headers of ``call`` (the only place the key is ever written)."""
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if call.body is not None:
            headers["Content-Type"] = "application/json"
        if call.authorized and self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    # -- after an attempt -------------------------------------------------------------------

    def _outcome(
        self, call: Call, attempt: int, exchange: Exchange, started: float, began: float
    ) -> ApiResponse | APIStatusError:
        """The answer of a 2xx attempt, or the error of any other."""
        self._log(call, attempt, str(exchange.status), began)
        headers = exchange.headers
        if 200 <= exchange.status < 300:
            data, text = (None, "") if call.raw else decode_body(exchange.content, headers)
            return ApiResponse(
                status=exchange.status,
                data=data,
                text=text,
                content=exchange.content,
                headers=headers,
                request_id=next((headers[h] for h in REQUEST_ID_HEADERS if h in headers), None),
                attempts=attempt,
                elapsed=time.monotonic() - started,
                truncated=exchange.truncated,
            )
        data, text = decode_body(exchange.content, headers)
        body = data if data is not None else text
        if self._api_key is not None:
            body = scrub(body, self._api_key)
        return error_from_response(
            exchange.status, body, headers, call.method, call.path, now=time.time(), tool=call.tool
        )

    def _delay_after_status(self, call: Call, attempt: int, error: APIStatusError) -> float | None:
        """Seconds to wait before trying again after ``error``, or None to raise it."""
        return next_delay(
            self.retry,
            attempt,
            retry_safe=call.retry_safe,
            status=error.status,
            retry_after=error.retry_after,
            random=self._random,
        )

    def _delay_after_exception(
        self, call: Call, attempt: int, exc: httpx.HTTPError, began: float
    ) -> float | None:
        """Seconds to wait before trying again after ``exc``, or None to raise."""
        self._log(call, attempt, type(exc).__name__, began)
        if not isinstance(exc, httpx.TransportError):
            return None  # a bad redirect chain or an undecodable body: trying again won't help
        return next_delay(
            self.retry,
            attempt,
            retry_safe=call.retry_safe or isinstance(exc, NEVER_SENT),
            transport_error=True,
            random=self._random,
        )

    def _translate(self, exc: httpx.HTTPError, call: Call, attempts: int) -> TransportError:
        """The `TransportError` for an httpx exception: the one place they are translated."""
        never_sent = isinstance(exc, NEVER_SENT)
        unknown = _may_have_run(call, exc)
        if isinstance(exc, httpx.TimeoutException):
            what = "timed out"
        else:
            what = "could not connect" if never_sent else "failed"
        shown = str(exc) if self._api_key is None else str(exc).replace(self._api_key, REDACTED)
        detail = " ".join(shown.split())[:200]
        plural = "" if attempts == 1 else "s"
        message = (
            f"{call.method} {call.path} {what} after {attempts} attempt{plural} "
            f"({type(exc).__name__}{': ' + detail if detail else ''})"
        )
        if unknown:  # what it may have done depends on the tool: a send, or another write
            message += unknown_outcome_advice(call.tool, call.path, retry_safe=call.retry_safe)
        elif never_sent:
            message += "; nothing reached MultiMail."
        return TransportError(
            message, outcome_unknown=unknown, method=call.method, path=call.path, tool=call.tool
        )

    @staticmethod
    def _log(call: Call, attempt: int, result: str, began: float) -> None:
        # One line per attempt; never headers or bodies, which carry the key and emails.
        logger.debug(
            "%s %s -> %s (attempt %d, %.1f ms)",
            call.method,
            call.path,
            result,
            attempt,
            (time.monotonic() - began) * 1000,
        )


def _api_key(given: str | None) -> str:
    key = given if given is not None else os.environ.get(API_KEY_ENV, "")
    if not isinstance(key, str):
        raise TypeError(f"api_key must be a string, got {type(key).__name__}")
    key = key.strip()
    if not key:
        raise ValueError(
            f"No MultiMail API key: pass api_key=... or set the {API_KEY_ENV} environment variable."
        )
    if not key.isascii() or not key.isprintable() or " " in key:
        # The key itself stays out of the message.
        raise ValueError(
            f"The MultiMail API key (api_key or {API_KEY_ENV}) contains spaces or "
            "non-printable characters; copy it again."
        )
    return key


def _base_url(given: str | None) -> str:
    source = "base_url" if given is not None else BASE_URL_ENV
    raw = (given if given is not None else os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip()
    parsed = http_url(raw)
    if parsed is None:
        shown = "a URL with credentials" if "@" in raw else repr(raw)
        raise ValueError(f"{source} must be an http(s) URL such as {DEFAULT_BASE_URL}, not {shown}")
    if parsed.userinfo or parsed.query or parsed.fragment:
        # Credentials in the URL would show in every repr; a query would break path joins.
        raise ValueError(f"{source} takes no credentials, query or fragment: {parsed.host!r}")
    return raw.rstrip("/")


def _may_have_run(call: Call, exc: httpx.HTTPError) -> bool:
    """Whether a write that failed with ``exc`` may still have been carried out."""
    return call.method not in IDEMPOTENT_METHODS and not isinstance(exc, NEVER_SENT)
