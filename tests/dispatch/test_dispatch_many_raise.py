"""dispatch_many with ``on_error="raise"``: one rule for sync and async.

The first failure is raised at once; siblings not started never start, siblings in flight
are stopped (approval waits end, tasks are cancelled) or, for a sync request already on the
wire, left to finish unseen; the error names them (``unfinished``) and carries the results
of the siblings that did finish (``completed``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import respx

from mm_assistants import ApprovalPolicy
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher, ToolCallError
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient
from tests.dispatch.conftest import BASE, FAST_RETRY, KEY, call

#: A sibling blocks this long unless stopped; the batch must raise far sooner.
SIBLING_SECONDS = 60.0
PROMPT = 5.0

SLOW = call("read_email", {"email_id": "em_slow"}, call_id="c_slow")
BAD = call("send_mail", {}, call_id="c_bad")  # unknown tool: refused before any request
SEND = call("send_email", {"to": ["a@b.test"], "subject": "s", "markdown": "m"}, call_id="c_send")
LONG_WAIT = ApprovalPolicy(max_wait=SIBLING_SECONDS, margin=0, first_delay=0.05, max_interval=0.1)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of a test so a sync sibling left running lets its thread go."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def held_send(api: respx.MockRouter) -> respx.Route:
    """A gated send held for approval that nobody decides; returns the status route."""
    api.post("/v1/mailboxes/mbx_1/send").respond(
        202, json={"id": "em_held", "status": "pending_send_approval"}
    )
    return api.get("/v1/mailboxes/mbx_1/emails/em_held").respond(
        200, json={"id": "em_held", "status": "pending_send_approval"}
    )


def test_sync_raises_promptly_while_a_sibling_request_hangs(
    api: respx.MockRouter, release: threading.Event
) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        release.wait(SIBLING_SECONDS)
        return httpx.Response(200, json={"id": "em_slow"})

    api.get("/v1/mailboxes/mbx_1/emails/em_slow").mock(side_effect=hang)
    with MultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
        dispatcher = Dispatcher(client, mailbox_id="mbx_1", on_error="raise", audit=None)
        started = time.monotonic()
        with pytest.raises(ToolCallError) as caught:
            dispatcher.dispatch_many([SLOW, BAD])
        elapsed = time.monotonic() - started
        release.set()
    assert elapsed < PROMPT
    assert caught.value.result.call_id == "c_bad"
    assert caught.value.unfinished == ("c_slow",)
    assert caught.value.completed == ()


def test_sync_ends_a_siblings_approval_wait(api: respx.MockRouter) -> None:
    status = held_send(api)
    with MultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
        dispatcher = Dispatcher(client, mailbox_id="mbx_1", on_error="raise", audit=None)
        started = time.monotonic()
        with pytest.raises(ToolCallError) as caught:
            # the failing call comes last: the send is on hold before the error is raised
            dispatcher.dispatch_many(
                [SEND, call("read_email", "{oops", call_id="c_bad")], approvals=LONG_WAIT
            )
        assert time.monotonic() - started < PROMPT
        assert caught.value.result.call_id == "c_bad"
        # the wait stops looking soon after the raise (it was told to, not left for 60 s)
        time.sleep(0.5)
        looks = status.call_count
        time.sleep(0.5)
        assert status.call_count == looks


def test_sync_calls_not_started_never_start(api: respx.MockRouter) -> None:
    catch_all = api.route().respond(200, json={})
    with MultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
        dispatcher = Dispatcher(
            client, mailbox_id="mbx_1", on_error="raise", audit=None, max_concurrency=1
        )
        with pytest.raises(ToolCallError) as caught:
            dispatcher.dispatch_many([BAD, SLOW])
    assert caught.value.unfinished == ("c_slow",)
    assert not catch_all.called


def test_async_raises_promptly_and_cancels_the_sibling(api: respx.MockRouter) -> None:
    cancelled = []

    async def hang(request: httpx.Request) -> httpx.Response:
        try:
            await asyncio.sleep(SIBLING_SECONDS)
        except asyncio.CancelledError:
            cancelled.append(request.url.path)
            raise
        return httpx.Response(200, json={"id": "em_slow"})

    api.get("/v1/mailboxes/mbx_1/emails/em_slow").mock(side_effect=hang)

    async def scenario() -> tuple[float, ToolCallError]:
        async with AsyncMultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
            dispatcher = AsyncDispatcher(client, mailbox_id="mbx_1", on_error="raise", audit=None)
            started = time.monotonic()
            try:
                await dispatcher.dispatch_many([SLOW, BAD])
            except ToolCallError as error:
                return time.monotonic() - started, error
            raise AssertionError("dispatch_many did not raise")

    elapsed, error = asyncio.run(scenario())
    assert elapsed < PROMPT
    assert error.result.call_id == "c_bad"
    assert error.unfinished == ("c_slow",)
    assert error.completed == ()
    assert cancelled == ["/v1/mailboxes/mbx_1/emails/em_slow"]


def test_async_ends_a_siblings_approval_wait(api: respx.MockRouter) -> None:
    held_send(api)

    async def scenario() -> tuple[float, ToolCallError]:
        async with AsyncMultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
            dispatcher = AsyncDispatcher(client, mailbox_id="mbx_1", on_error="raise", audit=None)
            started = time.monotonic()
            try:
                await dispatcher.dispatch_many(
                    [SEND, call("read_email", "{oops", call_id="c_bad")], approvals=LONG_WAIT
                )
            except ToolCallError as error:
                return time.monotonic() - started, error
            raise AssertionError("dispatch_many did not raise")

    elapsed, error = asyncio.run(scenario())
    assert elapsed < PROMPT
    assert error.result.call_id == "c_bad"
    assert error.unfinished == ("c_send",)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_finished_siblings_travel_with_the_error(api: respx.MockRouter, mode: str) -> None:
    api.get("/v1/mailboxes/mbx_1/emails/em_1").respond(200, json={"id": "em_1"})
    fast = call("read_email", {"email_id": "em_1"}, call_id="c_ok")

    batch = [fast, call("read_email", "{oops", call_id="c_bad")]
    if mode == "sync":
        with MultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
            dispatcher = Dispatcher(
                client, mailbox_id="mbx_1", on_error="raise", audit=None, max_concurrency=1
            )
            with pytest.raises(ToolCallError) as caught:
                dispatcher.dispatch_many(batch)
        error = caught.value
    else:

        async def scenario() -> ToolCallError:
            async with AsyncMultiMailClient(api_key=KEY, base_url=BASE) as client:
                dispatcher = AsyncDispatcher(
                    client, mailbox_id="mbx_1", on_error="raise", audit=None, max_concurrency=1
                )
                try:
                    await dispatcher.dispatch_many(batch)
                except ToolCallError as error:
                    return error
                raise AssertionError("dispatch_many did not raise")

        error = asyncio.run(scenario())
    assert error.result.call_id == "c_bad"
    assert [r.call_id for r in error.completed] == ["c_ok"]
    assert error.unfinished == ()
