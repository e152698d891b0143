"""`OversightQueue` and `AsyncOversightQueue` against a faked MultiMail (respx).

The sync and async tests mirror each other; the CLI tests drive the sync queue against
the sandbox end to end.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient, RetryPolicy
from mm_assistants.review import AsyncOversightQueue, OversightQueue, ReviewBackend, ReviewError
from mm_assistants.review.backend import NO_OVERSIGHT_SCOPE, OriginalSource
from mm_assistants.review.oversight import decide_body
from tests.review.test_queue import HELD

BASE = "https://mm.test"
KEY = "mm_test_oversight_secret_value"
NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def queue() -> Iterator[OversightQueue]:
    with MultiMailClient(api_key=KEY, base_url=BASE, retry=NO_RETRY) as client:
        yield OversightQueue(client)


@pytest.fixture
async def async_queue() -> AsyncIterator[AsyncOversightQueue]:
    async with AsyncMultiMailClient(api_key=KEY, base_url=BASE, retry=NO_RETRY) as client:
        yield AsyncOversightQueue(client)


def test_pending_lists_the_held_emails(api: respx.MockRouter, queue: OversightQueue) -> None:
    route = api.get("/v1/oversight/pending").respond(json={"emails": [HELD]})
    assert queue.pending() == [HELD]
    assert route.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"


async def test_pending_lists_the_held_emails_async(
    api: respx.MockRouter, async_queue: AsyncOversightQueue
) -> None:
    api.get("/v1/oversight/pending").respond(json={"emails": [HELD]})
    assert await async_queue.pending() == [HELD]


def test_decide_posts_the_decision(api: respx.MockRouter, queue: OversightQueue) -> None:
    route = api.post("/v1/oversight/decide").respond(json={"status": "rejected"})
    assert queue.decide("em_1", "reject", " too early ") == {"status": "rejected"}
    body = json.loads(route.calls[0].request.content)
    assert body == {"email_id": "em_1", "action": "reject", "reason": "too early"}


async def test_decide_posts_the_decision_async(
    api: respx.MockRouter, async_queue: AsyncOversightQueue
) -> None:
    route = api.post("/v1/oversight/decide").respond(json={"status": "approved_and_sent"})
    assert await async_queue.decide("em_1", "approve", None) == {"status": "approved_and_sent"}
    assert json.loads(route.calls[0].request.content) == {"email_id": "em_1", "action": "approve"}


def test_a_key_without_oversight_scope_is_told_so(
    api: respx.MockRouter, queue: OversightQueue
) -> None:
    api.get("/v1/oversight/pending").respond(403, json={"error": f"Insufficient scope {KEY}"})
    with pytest.raises(ReviewError) as caught:
        queue.pending()
    assert caught.value.status == 403
    assert str(caught.value).startswith(NO_OVERSIGHT_SCOPE)
    assert KEY not in str(caught.value)  # the client scrubs the key from the API's words


async def test_an_unknown_id_is_a_404_async(
    api: respx.MockRouter, async_queue: AsyncOversightQueue
) -> None:
    api.post("/v1/oversight/decide").respond(404, json={"error": "Email not found"})
    with pytest.raises(ReviewError, match="unknown email id em_x") as caught:
        await async_queue.decide("em_x", "approve", None)
    assert caught.value.status == 404


def test_an_unreachable_api_is_a_review_error(api: respx.MockRouter, queue: OversightQueue) -> None:
    api.get("/v1/oversight/pending").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ReviewError, match="could not reach MultiMail") as caught:
        queue.pending()
    assert caught.value.status is None


def test_a_malformed_decision_never_reaches_the_api(
    api: respx.MockRouter, queue: OversightQueue
) -> None:
    route = api.post("/v1/oversight/decide").respond(json={"status": "rejected"})
    with pytest.raises(ValueError, match="needs a reason"):
        queue.decide("em_1", "reject", "")
    with pytest.raises(ValueError, match="email_id"):
        decide_body(" ", "approve", None)
    assert not route.called


def test_an_answer_without_json_is_an_empty_answer(
    api: respx.MockRouter, queue: OversightQueue
) -> None:
    api.post("/v1/oversight/decide").respond(200, text="ok")
    assert queue.decide("em_1", "approve") == {}


def test_the_reprs_hide_the_key(queue: OversightQueue) -> None:
    assert KEY not in repr(queue)
    assert "OversightQueue(MultiMailClient(" in repr(queue)


def test_the_async_queue_is_a_review_backend(async_queue: AsyncOversightQueue) -> None:
    assert isinstance(async_queue, ReviewBackend)
    assert KEY not in repr(async_queue)


async def test_a_key_without_oversight_scope_is_told_so_async(
    api: respx.MockRouter, async_queue: AsyncOversightQueue
) -> None:
    api.get("/v1/oversight/pending").respond(403, json={"error": "Insufficient scope"})
    with pytest.raises(ReviewError, match=NO_OVERSIGHT_SCOPE) as caught:
        await async_queue.pending()
    assert caught.value.status == 403


async def test_a_reader_finds_the_email_a_reply_answers(api: respx.MockRouter) -> None:
    held = api.get("/v1/mailboxes/mbx_1/emails/em_1").respond(json={**HELD, "in_reply_to": "em_0"})
    original = api.get("/v1/mailboxes/mbx_1/emails/em_0").respond(
        json={"id": "em_0", "from": "ana@customer.example", "subject": "Hi"}
    )
    async with (
        AsyncMultiMailClient(api_key=KEY, base_url=BASE, retry=NO_RETRY) as client,
        AsyncMultiMailClient(api_key="mm_test_read", base_url=BASE, retry=NO_RETRY) as reader,
    ):
        queue = AsyncOversightQueue(client, reader=reader)
        assert isinstance(queue, OriginalSource)
        found = await queue.original(HELD)
        assert found is not None
        assert found["from"] == "ana@customer.example"
        assert await queue.original(HELD) == found  # remembered: it never changes
    assert (held.call_count, original.call_count) == (1, 1)
    assert held.calls[0].request.headers["Authorization"] == "Bearer mm_test_read"


async def test_without_a_reader_or_with_a_refusal_there_is_no_original(
    api: respx.MockRouter, async_queue: AsyncOversightQueue
) -> None:
    assert await async_queue.original(HELD) is None  # an oversight key cannot read
    api.get("/v1/mailboxes/mbx_1/emails/em_1").respond(403, json={"error": "needs read"})
    async with AsyncMultiMailClient(api_key=KEY, base_url=BASE, retry=NO_RETRY) as reader:
        queue = AsyncOversightQueue(reader, reader=reader)
        assert await queue.original(HELD) is None
        assert await queue.original({**HELD, "in_reply_to": None}) is None
