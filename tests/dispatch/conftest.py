"""A harness that runs the same scenario through Dispatcher and AsyncDispatcher."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import respx

from mm_assistants.dispatch import AsyncDispatcher, Dispatcher, ToolCall, ToolResult
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient, RetryPolicy

BASE = "https://mm.test"
KEY = "mm_test_secret_key_0123456789"
FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.002, jitter=0.0)


def call(name: str, arguments: Any = None, call_id: str = "call_1", **context: Any) -> ToolCall:
    """A ToolCall whose arguments may be given as a dict (encoded here) or raw text."""
    from mm_assistants.dispatch import CallContext

    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return ToolCall(id=call_id, name=name, arguments=text, context=CallContext(**context))


def strict_args(tool: str, **given: Any) -> dict[str, Any]:
    """Every property of ``tool`` present (null unless given), as a strict-mode model sends."""
    from mm_assistants.tools import load_registry

    properties = load_registry()[tool].parameters["properties"]
    return {key: given.get(key) for key in properties} | given


class Harness:
    """Runs calls through a sync or an async dispatcher built on a respx-mocked client."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __repr__(self) -> str:
        return f"Harness({self.mode})"

    def run(
        self, calls: ToolCall | Sequence[ToolCall], *, many: bool = False, **options: Any
    ) -> Any:
        batch = [calls] if isinstance(calls, ToolCall) else list(calls)
        options.setdefault("mailbox_id", "mbx_1")
        options.setdefault("wait_poll_interval", 0.01)
        if self.mode == "sync":
            with MultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
                dispatcher = Dispatcher(client, **options)
                results = (
                    dispatcher.dispatch_many(batch)
                    if many
                    else [dispatcher.dispatch(item) for item in batch]
                )
        else:

            async def scenario() -> list[ToolResult]:
                async with AsyncMultiMailClient(
                    api_key=KEY, base_url=BASE, retry=FAST_RETRY
                ) as client:
                    dispatcher = AsyncDispatcher(client, **options)
                    if many:
                        return await dispatcher.dispatch_many(batch)
                    return [await dispatcher.dispatch(item) for item in batch]

            results = asyncio.run(scenario())
        return results[0] if isinstance(calls, ToolCall) else results


@pytest.fixture(params=["sync", "async"])
def harness(request: pytest.FixtureRequest) -> Harness:
    return Harness(request.param)


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router
