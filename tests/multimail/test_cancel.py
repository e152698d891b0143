"""A cancel event stops the client before a write and before every retry: a caller that
gave up on a call (the Agents SDK cancelled a tool, a run ended) never sends late."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
import respx

from mm_assistants.multimail import (
    AsyncMultiMailClient,
    MultiMailClient,
    RateLimitError,
    RequestCancelled,
    RetryPolicy,
    TransportError,
)
from tests.multimail.conftest import BASE, KEY, Runner

SEND = "/v1/mailboxes/mbx_1/send"
KEYED = {"to": ["bob@example.com"], "subject": "Hi", "idempotency_key": "k1"}
PATIENT = RetryPolicy(max_attempts=3, jitter=0.0, max_delay=30.0)


def throttled(api: respx.MockRouter, retry_after: str = "20") -> respx.Route:
    """The send answers 429 (wait ``retry_after`` s) once, then would send."""
    return api.post(SEND).mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": retry_after}, json={"error": "slow"}),
            httpx.Response(200, json={"id": "em_late", "status": "pending_send_approval"}),
        ]
    )


async def test_a_write_is_not_sent_once_cancelled(runner: Runner, api: respx.MockRouter) -> None:
    send = api.post(SEND).respond(200, json={"id": "em_1"})
    cancel = threading.Event()
    cancel.set()

    with pytest.raises(RequestCancelled) as cancelled:
        await runner.call("request", "POST", SEND, json=KEYED, cancel=cancel)

    assert not send.called
    assert cancelled.value.outcome_unknown is False
    assert "nothing reached MultiMail" in str(cancelled.value)


async def test_a_read_goes_once_but_is_not_retried(runner: Runner, api: respx.MockRouter) -> None:
    inbox = api.get("/v1/emails").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"emails": []})]
    )
    cancel = threading.Event()
    cancel.set()

    with pytest.raises(RequestCancelled) as cancelled:
        await runner.call("request", "GET", "/v1/emails", cancel=cancel)

    assert inbox.call_count == 1
    assert "after 1 failed attempt" in str(cancelled.value)


async def test_without_a_cancel_the_retry_still_sends(
    runner: Runner, api: respx.MockRouter
) -> None:
    send = throttled(api, retry_after="0")
    answer = await runner.call("request", "POST", SEND, json=KEYED, cancel=threading.Event())
    assert (answer.data["id"], send.call_count) == ("em_late", 2)


def test_cancel_during_a_retry_wait_ends_it_at_once_and_sends_nothing() -> None:
    cancel = threading.Event()
    with respx.mock(base_url=BASE) as api:
        send = throttled(api)
        threading.Timer(0.2, cancel.set).start()
        began = time.monotonic()
        # No sleep= given: the pause is real time, and the cancel cuts it short.
        with (
            MultiMailClient(api_key=KEY, base_url=BASE, retry=PATIENT) as client,
            pytest.raises(RequestCancelled) as cancelled,
        ):
            client.request("POST", SEND, json=KEYED, cancel=cancel)
        waited = time.monotonic() - began

    assert send.call_count == 1  # the 429 only: the send itself never went
    assert waited < 5  # not the 20 s the server asked for
    assert cancelled.value.outcome_unknown is False
    assert isinstance(cancelled.value.__cause__, RateLimitError)


def test_a_write_that_may_have_run_is_reported_unknown_when_cancelled() -> None:
    cancel = threading.Event()
    with respx.mock(base_url=BASE) as api:
        send = api.post(SEND).mock(side_effect=httpx.ReadTimeout("slow"))
        with (
            MultiMailClient(
                api_key=KEY, base_url=BASE, retry=PATIENT, sleep=lambda _: cancel.set()
            ) as client,
            pytest.raises(RequestCancelled) as cancelled,
        ):
            client.request("POST", SEND, json=KEYED, cancel=cancel)

    assert send.call_count == 1
    assert isinstance(cancelled.value, TransportError)
    assert cancelled.value.outcome_unknown is True  # the first attempt may have sent it


async def test_cancelling_the_task_ends_an_async_retry_wait() -> None:
    with respx.mock(base_url=BASE) as api:
        send = throttled(api)
        async with AsyncMultiMailClient(api_key=KEY, base_url=BASE, retry=PATIENT) as client:
            task = asyncio.create_task(client.request("POST", SEND, json=KEYED))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 5)
        assert send.call_count == 1


async def test_an_async_cancel_event_stops_the_retry() -> None:
    cancel = threading.Event()

    async def pause(_: float) -> None:
        cancel.set()  # set while the client waits for its retry

    with respx.mock(base_url=BASE) as api:
        send = throttled(api)
        async with AsyncMultiMailClient(
            api_key=KEY, base_url=BASE, retry=PATIENT, sleep=pause
        ) as client:
            with pytest.raises(RequestCancelled):
                await client.request("POST", SEND, json=KEYED, cancel=cancel)
    assert send.call_count == 1
