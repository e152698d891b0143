"""Typed seams (issue 13, item 5): a router refuses, at construction, an OpenAI client or a
dispatcher of the other kind, rather than failing at the first email it routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mm_assistants.inbound import AsyncInboundRouter, InboundRouter
from tests.seams import both_kinds

KEY = "mm_test_router_seams_key"


@pytest.fixture
def parts() -> Iterator[dict[str, Any]]:
    with both_kinds(KEY) as made:
        yield made


@pytest.mark.parametrize(
    ("router", "client", "dispatcher", "wrong", "instead"),
    [
        pytest.param(InboundRouter, "OpenAI", "AsyncDispatcher", "AsyncDispatcher", "a Dispatcher"),
        pytest.param(InboundRouter, "AsyncOpenAI", "Dispatcher", "AsyncOpenAI", "an OpenAI"),
        pytest.param(
            AsyncInboundRouter, "AsyncOpenAI", "Dispatcher", "Dispatcher", "an AsyncDispatcher"
        ),
        pytest.param(AsyncInboundRouter, "OpenAI", "AsyncDispatcher", "OpenAI", "an AsyncOpenAI"),
    ],
)
def test_a_router_refuses_parts_of_the_other_kind(
    parts: dict[str, Any], router: type, client: str, dispatcher: str, wrong: str, instead: str
) -> None:
    with pytest.raises(TypeError) as caught:
        router(parts[client], parts[dispatcher], model="gpt-test")
    message = str(caught.value)
    assert message.startswith(f"{router.__name__} ")
    assert f" {wrong} as its" in message
    assert f"pass {instead}" in message


def test_routers_take_parts_of_their_kind(parts: dict[str, Any]) -> None:
    InboundRouter(parts["OpenAI"], parts["Dispatcher"], model="gpt-test").close()
    AsyncInboundRouter(parts["AsyncOpenAI"], parts["AsyncDispatcher"], model="gpt-test")
