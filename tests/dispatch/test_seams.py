"""Typed seams (issue 13, item 5): a dispatcher refuses a MultiMail client of the other
kind at construction, saying what to pass instead."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient

KEY = "mm_test_seams_key_0123456789"
BASE = "http://127.0.0.1:9"


def test_a_blocking_dispatcher_refuses_an_async_client() -> None:
    client = AsyncMultiMailClient(api_key=KEY, base_url=BASE)
    with pytest.raises(TypeError) as caught:
        Dispatcher(client, mailbox_id="mbx_1")  # type: ignore[arg-type]
    assert str(caught.value).startswith(
        "Dispatcher blocks and cannot use an AsyncMultiMailClient as its client: "
        "pass a MultiMailClient"
    )
    assert "AsyncDispatcher" in str(caught.value)
    assert KEY not in str(caught.value)
    asyncio.run(client.aclose())


def test_an_async_dispatcher_refuses_a_blocking_client() -> None:
    with MultiMailClient(api_key=KEY, base_url=BASE) as client, pytest.raises(TypeError) as caught:
        AsyncDispatcher(client, mailbox_id="mbx_1")  # type: ignore[arg-type]
    assert "AsyncDispatcher awaits its I/O and cannot use a MultiMailClient" in str(caught.value)
    assert "pass an AsyncMultiMailClient" in str(caught.value)


@pytest.mark.parametrize("cls", [Dispatcher, AsyncDispatcher])
def test_the_options_are_spelled_out_for_type_checkers(cls: type) -> None:
    parameters = inspect.signature(cls).parameters.values()
    assert not [p for p in parameters if p.kind is inspect.Parameter.VAR_KEYWORD]
    assert "approval_store" in inspect.signature(cls).parameters
