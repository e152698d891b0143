"""`MultiMailClient` and `AsyncMultiMailClient`: MultiMail's API over httpx.

Example::

    with MultiMailClient() as client:   # MULTIMAIL_API_KEY (and MULTIMAIL_API_URL) from the env
        inbox = client.request("GET", "/v1/mailboxes/mbx_1/emails", params={"limit": "5"})
        print(inbox.data["emails"])

Both shells take every decision in `ClientCore` (``_core``): which headers, whether and how
long to wait before another attempt, what an answer means, which error to raise. They differ
only in ``await``. Retries happen only where they cannot send an email twice: see
`mm_assistants.multimail.retries`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from mm_assistants.multimail.core import CancelToken, ClientCore
from mm_assistants.multimail.redirects import unreadable_location
from mm_assistants.multimail.retries import DEFAULT_RETRY, RetryPolicy
from mm_assistants.multimail.types import ApiResponse, BodyReader, Call, Exchange
from mm_assistants.tools.request import RequestSpec

#: How many requests of one `AsyncMultiMailClient` may be in its connection pool at once.
DEFAULT_MAX_IN_FLIGHT = 50


class MultiMailClient(ClientCore):
    """A blocking MultiMail client; safe to share between threads.

    ``api_key`` falls back to ``MULTIMAIL_API_KEY``; ``base_url`` to ``MULTIMAIL_API_URL``,
    then ``https://api.multimail.dev``. ``timeout`` is in seconds, per attempt. Pass
    ``http_client`` to reuse your own ``httpx.Client`` (it stays open: closing it is yours).
    ``sleep`` and ``random`` replace `time.sleep` and `random.random` (tests pass fakes so
    that retries take no time). Without ``sleep``, the pause before a retry is cut short by
    the request's ``cancel`` event, so a cancelled call never sends late.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        http_client: httpx.Client | None = None,
        user_agent: str | None = None,
        sleep: Callable[[float], object] | None = None,
        random: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout, retry, user_agent, random)
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise TypeError(
                f"http_client takes an httpx.Client, got {type(http_client).__name__}"
                " (an httpx.AsyncClient goes with AsyncMultiMailClient)"
            )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        self._sleep = sleep

    def send(self, spec: RequestSpec, *, cancel: CancelToken | None = None) -> ApiResponse:
        """Send a request a tool call was bound to (`ToolRegistry.bind`), retrying only as
        ``spec.retry_safe`` allows. Raises a `MultiMailError` on failure.

        Once ``cancel`` (a `threading.Event`) is set, a write is not sent and no request is
        tried again: `RequestCancelled` is raised instead (the wait before a retry ends at
        once). A request already on the wire cannot be called back.
        """
        call = self._api_call(
            spec.method, spec.path, spec.params, spec.json, spec.retry_safe, spec.tool
        )
        return self._run(call, cancel)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        retry_safe: bool | None = None,
        cancel: CancelToken | None = None,
    ) -> ApiResponse:
        """One API call, e.g. ``request("GET", "/v1/account")``; raises a `MultiMailError`.

        ``path`` is relative to ``base_url``. ``retry_safe=None`` decides by the method: GET,
        HEAD, PUT and DELETE may be retried, POST and PATCH only with an ``idempotency_key``
        in ``json``. ``cancel`` as for `send`.
        """
        return self._run(self._api_call(method, path, params, json, retry_safe), cancel)

    def fetch_url(
        self,
        url: str,
        *,
        max_bytes: int | None = None,
        send_key: bool = True,
        cancel: CancelToken | None = None,
    ) -> ApiResponse:
        """Download a file MultiMail links to, e.g. an attachment's signed ``url``.

        The API key is sent only when ``url`` has ``base_url``'s origin (scheme, host,
        port), never to another host, and never with ``send_key=False`` (for a signed link,
        which needs none); a path starting with ``/`` is taken relative to ``base_url``.
        The bytes are in ``content``. With ``max_bytes``, reading stops there and the
        answer says ``truncated=True``.

        Redirects are followed only back to ``base_url``'s origin (https, unless that is
        this machine), at most 3 hops; any other raises `RedirectRefused` without a
        request to its target (see `mm_assistants.multimail.redirects`).
        """
        return self._run(_keyless(self._file_call(url, max_bytes), send_key), cancel)

    def _run(self, call: Call, cancel: CancelToken | None = None) -> ApiResponse:
        started = time.monotonic()
        attempt = hops = 0
        last: Exception | None = None  # the failure a retry follows
        while True:
            stop = self._cancelled(call, attempt, cancel, last)
            if stop is not None:
                raise stop from last
            attempt += 1
            began = time.monotonic()
            try:
                exchange = self._exchange(call)
            except (UnicodeError, httpx.InvalidURL) as exc:  # a Location httpx cannot read
                refused = unreadable_location(call)
                if refused is None:
                    raise
                raise refused from exc
            except httpx.HTTPError as exc:
                delay = self._delay_after_exception(call, attempt, exc, began)
                if delay is None:
                    raise self._translate(exc, call, attempt) from exc
                last = exc
            else:
                hop = self._next_hop(call, exchange, hops)
                if hop is not None:  # a new request: its own attempts
                    call, hops, attempt, last = hop, hops + 1, 0, None
                    continue
                outcome = self._outcome(call, attempt, exchange, started, began)
                if isinstance(outcome, ApiResponse):
                    return outcome
                delay = self._delay_after_status(call, attempt, outcome)
                if delay is None:
                    raise outcome
                last = outcome
            self._pause(delay, cancel)

    def _pause(self, delay: float, cancel: CancelToken | None) -> None:
        if self._sleep is not None:
            self._sleep(delay)  # the caller's clock (a test's fake): the cancel is seen after
        elif cancel is not None:
            cancel.wait(delay)  # a cancel ends the wait at once
        else:
            time.sleep(delay)

    def _exchange(self, call: Call) -> Exchange:
        reader = BodyReader(call.max_bytes)
        with self._http.stream(
            call.method,
            call.url,
            params=call.params,
            content=call.body,
            headers=self._headers(call),
            timeout=self.timeout,
            follow_redirects=False,  # a download's hops are followed by hand (_next_hop)
        ) as response:
            for chunk in response.iter_bytes():
                if not reader.feed(chunk):
                    break
        return reader.exchange(response)

    def close(self) -> None:
        """Close the connection pool, unless ``http_client`` was passed in."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> MultiMailClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncMultiMailClient(ClientCore):
    """`MultiMailClient` for asyncio, over ``httpx.AsyncClient``; the same options.

    ``sleep`` defaults to `asyncio.sleep` and must return an awaitable.
    ``max_in_flight`` bounds the requests in the connection pool at once (others wait
    their turn outside it, not counted against the timeout).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        http_client: httpx.AsyncClient | None = None,
        user_agent: str | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        random: Callable[[], float] | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        super().__init__(api_key, base_url, timeout, retry, user_agent, random)
        if not isinstance(max_in_flight, int) or max_in_flight < 1:
            raise ValueError(f"max_in_flight must be an int >= 1, not {max_in_flight!r}")
        self.max_in_flight = max_in_flight
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise TypeError(
                f"http_client takes an httpx.AsyncClient, got {type(http_client).__name__}"
                " (an httpx.Client goes with MultiMailClient)"
            )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self._sleep = sleep

    async def send(self, spec: RequestSpec, *, cancel: CancelToken | None = None) -> ApiResponse:
        """Send a bound tool request; see `MultiMailClient.send`. Cancelling the task ends
        a retry's wait too; ``cancel`` is looked at before a write and before each retry."""
        call = self._api_call(
            spec.method, spec.path, spec.params, spec.json, spec.retry_safe, spec.tool
        )
        return await self._run(call, cancel)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Mapping[str, Any] | None = None,
        retry_safe: bool | None = None,
        cancel: CancelToken | None = None,
    ) -> ApiResponse:
        """One API call; see `MultiMailClient.request`."""
        return await self._run(self._api_call(method, path, params, json, retry_safe), cancel)

    async def fetch_url(
        self,
        url: str,
        *,
        max_bytes: int | None = None,
        send_key: bool = True,
        cancel: CancelToken | None = None,
    ) -> ApiResponse:
        """Download a file MultiMail links to; see `MultiMailClient.fetch_url`."""
        return await self._run(_keyless(self._file_call(url, max_bytes), send_key), cancel)

    async def _run(self, call: Call, cancel: CancelToken | None = None) -> ApiResponse:
        started = time.monotonic()
        attempt = hops = 0
        last: Exception | None = None
        while True:
            stop = self._cancelled(call, attempt, cancel, last)
            if stop is not None:
                raise stop from last
            attempt += 1
            began = time.monotonic()
            try:
                exchange = await self._exchange(call)
            except (UnicodeError, httpx.InvalidURL) as exc:
                refused = unreadable_location(call)
                if refused is None:
                    raise
                raise refused from exc
            except httpx.HTTPError as exc:
                delay = self._delay_after_exception(call, attempt, exc, began)
                if delay is None:
                    raise self._translate(exc, call, attempt) from exc
                last = exc
            else:
                hop = self._next_hop(call, exchange, hops)
                if hop is not None:
                    call, hops, attempt, last = hop, hops + 1, 0, None
                    continue
                outcome = self._outcome(call, attempt, exchange, started, began)
                if isinstance(outcome, ApiResponse):
                    return outcome
                delay = self._delay_after_status(call, attempt, outcome)
                if delay is None:
                    raise outcome
                last = outcome
            await self._sleep(delay)  # cancelling the task ends this wait

    async def _exchange(self, call: Call) -> Exchange:
        # At most max_in_flight requests enter the connection pool at once: a thousand
        # runs calling together would otherwise queue inside it, where every freed
        # connection rescans the queue (CPU) and queued time counts against the timeout.
        async with self._gate():
            return await self._exchange_now(call)

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.max_in_flight)
        return gate

    async def _exchange_now(self, call: Call) -> Exchange:
        reader = BodyReader(call.max_bytes)
        async with self._http.stream(
            call.method,
            call.url,
            params=call.params,
            content=call.body,
            headers=self._headers(call),
            timeout=self.timeout,
            follow_redirects=False,  # a download's hops are followed by hand (_next_hop)
        ) as response:
            async for chunk in response.aiter_bytes():
                if not reader.feed(chunk):
                    break
        return reader.exchange(response)

    async def aclose(self) -> None:
        """Close the connection pool, unless ``http_client`` was passed in."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncMultiMailClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _keyless(call: Call, send_key: bool) -> Call:
    # send_key only ever takes the key away: it never adds it for another origin
    return call if send_key else replace(call, authorized=False)
