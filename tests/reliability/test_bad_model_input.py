"""Bad model input, fuzzed: whatever tool calls a model makes, `dispatch` returns a result
(never raises), a call that fails validation makes no HTTP request, and a driver submits
an output for every call id of a step exactly once.

Arguments are generated from each tool's own JSON schema (`fuzzing`): valid ones, ones
broken in one place (a required field missing, an unknown field, a wrong type, a number
out of range, a string too long), and text that is not a JSON object at all. An oracle
apart from the dispatcher (the tool's schema validator) says which calls are invalid; those
must be refused without a request. MultiMail and OpenAI are mock transports that record
every request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from mm_assistants import ToolResult
from tests.reliability.fuzzing import (
    DRIVES,
    FUZZ,
    SETUPS,
    Ledger,
    OneStepRun,
    as_tool_calls,
    async_dispatcher,
    call_batches,
    check_batch,
    check_submitted,
    recording_transport,
    required_actions,
    sync_dispatcher,
)
from tests.reliability.support import scaled

#: Generated tool calls per test; 2,000 (CI slice) or 10,000 (full) in all.
SYNC_CALLS = scaled(1000, 5000)
ASYNC_CALLS = scaled(400, 2000)
DRIVER_CALLS = scaled(600, 3000)


def run_until(target: int, test: Callable[[list[int]], None]) -> int:
    """Run a hypothesis test until it has dispatched ``target`` calls; how many it did."""
    count = [0]
    for _ in range(10):  # bounded: each round runs max_examples examples
        test(count)
        if count[0] >= target:
            return count[0]
    raise AssertionError(f"only {count[0]} of {target} generated calls were dispatched")


# -- dispatchers --------------------------------------------------------------------------------


def test_a_dispatcher_never_raises_and_sends_nothing_for_invalid_calls() -> None:
    @settings(FUZZ, max_examples=max(SYNC_CALLS // 5, 1))
    @given(batch=call_batches, setup=st.sampled_from(SETUPS))
    def fuzz(count: list[int], batch: list[tuple[str, str]], setup: dict[str, Any]) -> None:
        ledger = Ledger()
        dispatcher = sync_dispatcher(ledger, setup)
        calls = as_tool_calls(batch)
        check_batch(calls, [dispatcher.dispatch(call) for call in calls], ledger)
        count[0] += len(calls)

    done = run_until(SYNC_CALLS, fuzz)
    print(f"sync dispatcher: {done} generated tool calls")


def test_an_async_dispatcher_never_raises_and_sends_nothing_for_invalid_calls() -> None:
    @settings(FUZZ, max_examples=max(ASYNC_CALLS // 5, 1))
    @given(batch=call_batches, setup=st.sampled_from(SETUPS))
    def fuzz(count: list[int], batch: list[tuple[str, str]], setup: dict[str, Any]) -> None:
        ledger = Ledger()
        calls = as_tool_calls(batch)

        async def scenario() -> list[ToolResult]:
            async with httpx.AsyncClient(transport=recording_transport(ledger)) as http:
                dispatcher = async_dispatcher(ledger, http, setup, max_concurrency=1)
                return await dispatcher.dispatch_many(calls)

        check_batch(calls, asyncio.run(scenario()), ledger)
        count[0] += len(calls)

    done = run_until(ASYNC_CALLS, fuzz)
    print(f"async dispatcher: {done} generated tool calls")


# -- drivers: a step's generated calls, submitted ------------------------------------------------


def test_drivers_submit_an_output_for_every_generated_call_exactly_once() -> None:
    @settings(FUZZ, max_examples=max(DRIVER_CALLS // 4, 1))
    @given(
        action=required_actions,
        kind=st.sampled_from(sorted(DRIVES)),
        mode=st.sampled_from(["poll", "stream"]),
        concurrency=st.sampled_from([1, 8]),
    )
    def fuzz(count: list[int], action: Any, kind: str, mode: str, concurrency: int) -> None:
        server = OneStepRun(action)
        outcome, ledger = DRIVES[kind](server, mode, concurrency)
        check_submitted(server, outcome, ledger, one_at_a_time=concurrency == 1)
        count[0] += len(action)

    done = run_until(DRIVER_CALLS, fuzz)
    print(f"drivers: {done} generated tool calls in required_action payloads")
