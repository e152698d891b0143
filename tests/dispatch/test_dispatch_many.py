"""dispatch_many's concurrency cap, and the idempotency key's scope (sync and async)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from mm_assistants.dispatch import AsyncDispatcher, Dispatcher, ToolCall, ToolResult
from mm_assistants.dispatch.policy import derive_idempotency_key
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient
from tests.dispatch.conftest import KEY, call


class InFlight:
    """Counts calls in progress at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def result_for(item: ToolCall) -> ToolResult:
    return ToolResult(call_id=item.id, name=item.name, output="{}", ok=True)


CALLS = [call("read_email", {"email_id": f"em_{i}"}, call_id=f"c{i}") for i in range(10)]


def test_sync_dispatch_many_runs_at_most_max_concurrency_at_once() -> None:
    counter = InFlight()

    def slow(item: ToolCall, **_: Any) -> ToolResult:
        counter.enter()
        time.sleep(0.02)
        counter.leave()
        return result_for(item)

    with MultiMailClient(api_key=KEY) as client:
        dispatcher = Dispatcher(client, max_concurrency=3, audit=None)
        dispatcher.dispatch = slow  # type: ignore[method-assign]
        results = dispatcher.dispatch_many(CALLS)
    assert [r.call_id for r in results] == [c.id for c in CALLS]
    assert counter.peak == 3


def test_async_dispatch_many_runs_at_most_max_concurrency_at_once() -> None:
    counter = InFlight()

    async def scenario() -> list[ToolResult]:
        client = AsyncMultiMailClient(api_key=KEY)
        dispatcher = AsyncDispatcher(client, max_concurrency=3, audit=None)

        async def slow(item: ToolCall, **_: Any) -> ToolResult:
            counter.enter()
            await asyncio.sleep(0.02)
            counter.leave()
            return result_for(item)

        dispatcher.dispatch = slow  # type: ignore[method-assign]
        try:
            return await dispatcher.dispatch_many(CALLS)
        finally:
            await client.aclose()

    results = asyncio.run(scenario())
    assert [r.call_id for r in results] == [c.id for c in CALLS]
    assert counter.peak == 3


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(("c1", "send_email", ("run_1", None)), None, True, id="deterministic"),
        pytest.param(
            ("c1", "send_email", ("run_1", None)),
            ("c1", "send_email", ("run_2", None)),
            False,
            id="another-run",
        ),
        pytest.param(
            ("c1", "send_email", (None, "resp_1")),
            ("c1", "send_email", (None, "resp_2")),
            False,
            id="another-response",
        ),
        pytest.param(
            ("c1", "send_email", (None, None)),
            ("c2", "send_email", (None, None)),
            False,
            id="another-call",
        ),
        pytest.param(
            ("c1", "send_email", (None, None)),
            ("c1", "reply_email", (None, None)),
            False,
            id="another-tool",
        ),
    ],
)
def test_the_derived_key_is_scoped_to_the_call_and_its_run_or_response(
    a: tuple[str, str, tuple[str | None, str | None]],
    b: tuple[str, str, tuple[str | None, str | None]] | None,
    same: bool,
) -> None:
    first = derive_idempotency_key(*a)
    second = derive_idempotency_key(*(b or a))
    assert (first == second) is same
    assert first.startswith("mma_")
    assert len(first) <= 255
