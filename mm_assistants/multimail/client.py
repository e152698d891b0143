"""`MultiMailClient` and `AsyncMultiMailClient`: MultiMail's API over httpx.

Example::

    with MultiMailClient() as client:          # MULTIMAIL_API_KEY from the environment
        inbox = client.request("GET", "/v1/mailboxes/mbx_1/emails").data

Both shells take every decision in `ClientCore` and differ only in ``await``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from mm_assistants.multimail._core import ApiResponse, ClientCore, logger
from mm_assistants.multimail.errors import APIStatusError
from mm_assistants.multimail.retries import RetryPolicy
from mm_assistants.tools.request import RequestSpec


class MultiMailClient(ClientCore):
    """A blocking MultiMail client.

    ``api_key`` falls back to ``MULTIMAIL_API_KEY``; ``base_url`` to ``MULTIMAIL_API_URL``
    and then ``https://api.multimail.dev``. Pass ``http_client`` to reuse your own
    ``httpx.Client`` (it is then yours to close).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        user_agent: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout, retry or RetryPolicy(), user_agent, random)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=timeout)
        self._sleep = sleep

    def send(self, spec: RequestSpec) -> ApiResponse:
        """Send a bound tool request (see `ToolRegistry.bind`)."""
        return self.request(
            spec.method, spec.path, params=spec.params, json=spec.json, retry_safe=spec.retry_safe
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        retry_safe: bool | None = None,
    ) -> ApiResponse:
        """One API call with retries where safe; raises a `MultiMailError` on failure."""
        safe = self._retry_safe(method, json, retry_safe)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    method,
                    self._url(path),
                    params=dict(params) if params else None,
                    json=json,
                    headers=self._headers(),
                    timeout=self.timeout,
                )
            except httpx.HTTPError as exc:
                delay = self._delay_after_error(attempt, safe, exc)
                logger.debug(
                    "%s %s failed: %s (attempt %d)", method, path, type(exc).__name__, attempt
                )
                if delay is None:
                    raise self._transport_error(exc, method, path, safe, attempt) from exc
                self._sleep(delay)
                continue
            outcome = self._interpret(response, method, path, attempt, started)
            if not isinstance(outcome, APIStatusError):
                return outcome
            delay = self._delay_after_status(attempt, safe, outcome)
            if delay is None:
                raise outcome
            self._sleep(delay)

    def fetch_url(self, url: str, *, max_bytes: int | None = None) -> ApiResponse:
        """Download a file MultiMail links to (e.g. an attachment's ``download_url``).

        The API key goes only to MultiMail's own origin, never to another host. With
        ``max_bytes``, reading stops there and the answer says ``truncated=True``.
        """
        target = self._url(url)
        headers = self._headers(authorized=self._same_origin(target))
        started = time.monotonic()
        try:
            with self._http.stream(
                "GET", target, headers=headers, timeout=self.timeout
            ) as response:
                chunks, size, cut = [], 0, False
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        cut = True
                        break
                if response.is_error:
                    raise self._file_error(response, url, b"".join(chunks))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "GET", _without_query(url), True, 1) from exc
        return self._file_answer(response, b"".join(chunks), cut, started)

    def close(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> MultiMailClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMultiMailClient(ClientCore):
    """`MultiMailClient` for asyncio (``httpx.AsyncClient``); same options."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        user_agent: str | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        random: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout, retry or RetryPolicy(), user_agent, random)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(timeout=timeout)
        self._sleep = sleep

    async def send(self, spec: RequestSpec) -> ApiResponse:
        """Send a bound tool request (see `ToolRegistry.bind`)."""
        return await self.request(
            spec.method, spec.path, params=spec.params, json=spec.json, retry_safe=spec.retry_safe
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        retry_safe: bool | None = None,
    ) -> ApiResponse:
        """One API call with retries where safe; raises a `MultiMailError` on failure."""
        safe = self._retry_safe(method, json, retry_safe)
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
                    method,
                    self._url(path),
                    params=dict(params) if params else None,
                    json=json,
                    headers=self._headers(),
                    timeout=self.timeout,
                )
            except httpx.HTTPError as exc:
                delay = self._delay_after_error(attempt, safe, exc)
                logger.debug(
                    "%s %s failed: %s (attempt %d)", method, path, type(exc).__name__, attempt
                )
                if delay is None:
                    raise self._transport_error(exc, method, path, safe, attempt) from exc
                await self._sleep(delay)
                continue
            outcome = self._interpret(response, method, path, attempt, started)
            if not isinstance(outcome, APIStatusError):
                return outcome
            delay = self._delay_after_status(attempt, safe, outcome)
            if delay is None:
                raise outcome
            await self._sleep(delay)

    async def fetch_url(self, url: str, *, max_bytes: int | None = None) -> ApiResponse:
        """Download a file MultiMail links to; see `MultiMailClient.fetch_url`."""
        target = self._url(url)
        headers = self._headers(authorized=self._same_origin(target))
        started = time.monotonic()
        try:
            async with self._http.stream(
                "GET", target, headers=headers, timeout=self.timeout
            ) as response:
                chunks, size, cut = [], 0, False
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        cut = True
                        break
                if response.is_error:
                    raise self._file_error(response, url, b"".join(chunks))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "GET", _without_query(url), True, 1) from exc
        return self._file_answer(response, b"".join(chunks), cut, started)

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncMultiMailClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _without_query(url: str) -> str:
    # Download URLs carry signatures in their query: keep them out of messages and logs.
    return url.split("?", 1)[0]
