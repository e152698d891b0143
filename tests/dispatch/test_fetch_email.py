"""`fetch_email` is the dispatchers' public way to read one email's record (issue 13,
item 3): the drivers and the inbound routers use it instead of a private method."""

from __future__ import annotations

import inspect

import httpx
import pytest
import respx

from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient
from tests.dispatch.conftest import BASE, FAST_RETRY, KEY

EMAIL = {"id": "em_1", "status": "pending_send_approval", "subject": "Hi"}
ROUTE = f"{BASE}/v1/mailboxes/mbx_1/emails/em_1"


@pytest.mark.parametrize("cls", [Dispatcher, AsyncDispatcher])
def test_fetch_email_is_public_and_documented(cls: type) -> None:
    assert inspect.getdoc(cls.fetch_email)  # type: ignore[attr-defined]
    assert not hasattr(cls, "_fetch_email")


@respx.mock
def test_fetch_email_reads_the_record_or_none() -> None:
    respx.get(ROUTE).mock(return_value=httpx.Response(200, json=EMAIL))
    respx.get(f"{BASE}/v1/mailboxes/mbx_1/emails/em_2").mock(return_value=httpx.Response(404))
    with MultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
        dispatcher = Dispatcher(client, mailbox_id="mbx_1")
        assert dispatcher.fetch_email("em_1", "mbx_1") == EMAIL
        assert dispatcher.fetch_email("em_2", "mbx_1") is None


@respx.mock
async def test_async_fetch_email_reads_the_record_or_none() -> None:
    respx.get(ROUTE).mock(return_value=httpx.Response(200, json=EMAIL))
    respx.get(f"{BASE}/v1/mailboxes/mbx_1/emails/em_2").mock(return_value=httpx.Response(404))
    async with AsyncMultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
        dispatcher = AsyncDispatcher(client, mailbox_id="mbx_1")
        assert await dispatcher.fetch_email("em_1", "mbx_1") == EMAIL
        assert await dispatcher.fetch_email("em_2", "mbx_1") is None
