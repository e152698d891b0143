"""Typed seams (issue 13, item 5): a driver refuses, at construction, parts of the other
kind (an async dispatcher or ``AsyncOpenAI`` in a blocking driver, and the reverse) and
says what to pass instead, rather than failing mid-run on a coroutine nobody awaited."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mm_assistants import (
    AssistantsRunDriver,
    AsyncAssistantsRunDriver,
    AsyncResponsesDriver,
    ResponsesDriver,
    chat_tool_loop,
)
from tests.seams import both_kinds

KEY = "mm_test_seams_key"


@pytest.fixture
def parts() -> Iterator[dict[str, Any]]:
    with both_kinds(KEY) as made:
        yield made


BLOCKING = [AssistantsRunDriver, ResponsesDriver]
AWAITING = [AsyncAssistantsRunDriver, AsyncResponsesDriver]
MIXES = [
    *[
        pytest.param(driver, client, dispatcher, wrong, id=f"{driver.__name__}-{wrong}")
        for driver in BLOCKING
        for client, dispatcher, wrong in [
            ("OpenAI", "AsyncDispatcher", "AsyncDispatcher"),
            ("AsyncOpenAI", "Dispatcher", "AsyncOpenAI"),
            ("AsyncOpenAI", "AsyncDispatcher", "AsyncOpenAI"),
        ]
    ],
    *[
        pytest.param(driver, client, dispatcher, wrong, id=f"{driver.__name__}-{wrong}")
        for driver in AWAITING
        for client, dispatcher, wrong in [
            ("AsyncOpenAI", "Dispatcher", "Dispatcher"),
            ("OpenAI", "AsyncDispatcher", "OpenAI"),
            ("OpenAI", "Dispatcher", "OpenAI"),
        ]
    ],
]


@pytest.mark.parametrize(("driver", "client", "dispatcher", "wrong"), MIXES)
def test_a_driver_refuses_parts_of_the_other_kind(
    parts: dict[str, Any], driver: Callable[..., Any], client: str, dispatcher: str, wrong: str
) -> None:
    with pytest.raises(TypeError) as caught:
        driver(parts[client], parts[dispatcher])
    message = str(caught.value)
    assert message.startswith(f"{driver.__name__} ")  # type: ignore[attr-defined]
    article = "an" if wrong[0] in "AEIOU" else "a"
    assert f"cannot use {article} {wrong} as its" in message
    right = wrong.removeprefix("Async") if wrong.startswith("Async") else f"Async{wrong}"
    assert f"pass an {right}" in message or f"pass a {right}" in message  # what to pass instead


@pytest.mark.parametrize("driver", BLOCKING)
def test_a_blocking_driver_takes_blocking_parts(
    parts: dict[str, Any], driver: Callable[..., Any]
) -> None:
    driver(parts["OpenAI"], parts["Dispatcher"])


@pytest.mark.parametrize("driver", AWAITING)
def test_an_async_driver_takes_async_parts(
    parts: dict[str, Any], driver: Callable[..., Any]
) -> None:
    driver(parts["AsyncOpenAI"], parts["AsyncDispatcher"])


@pytest.mark.parametrize(
    ("client", "dispatcher", "wrong"),
    [
        pytest.param("AsyncOpenAI", "Dispatcher", "AsyncOpenAI", id="async-client"),
        pytest.param("OpenAI", "AsyncDispatcher", "AsyncDispatcher", id="async-dispatcher"),
    ],
)
def test_the_chat_loop_refuses_async_parts_before_any_request(
    parts: dict[str, Any], client: str, dispatcher: str, wrong: str
) -> None:
    with pytest.raises(TypeError, match=f"cannot use an {wrong} as its"):
        chat_tool_loop(parts[client], parts[dispatcher], model="m", messages=[])
