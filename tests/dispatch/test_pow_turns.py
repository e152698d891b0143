"""One proof-of-work solve at a time per dispatcher (review G, finding 7): a step with
several ``request_challenge`` calls, or a hostile server answering each with a hard
challenge, cannot run solves side by side and starve the rest of the process."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from mm_assistants.dispatch import AsyncDispatcher, core
from mm_assistants.multimail import AsyncMultiMailClient
from mm_assistants.tools import load_registry
from tests.dispatch.conftest import BASE, FAST_RETRY, KEY, Harness, call

CHALLENGE = {
    "algorithm": "SHA-256",
    "challenge": "ab" * 32,
    "maxnumber": 1000,
    "salt": "s1",
    "signature": "cd" * 32,
}


class FakeSolver:
    """Stands in for `attach_solution`: takes a while, and records how many ran at once."""

    def __init__(self, seconds: float = 0.05) -> None:
        self.seconds = seconds
        self.running = 0
        self.most = 0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, data: Any, *, max_number: int) -> dict[str, Any]:
        with self._lock:
            self.running += 1
            self.calls += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        return {**data, "pow_solution": {"number": 1}}


@pytest.fixture
def solver(monkeypatch: pytest.MonkeyPatch) -> FakeSolver:
    fake = FakeSolver()
    monkeypatch.setattr(core, "attach_solution", fake)
    return fake


def challenges(count: int) -> list[Any]:
    return [
        call("request_challenge", {"oversight_email": None}, call_id=f"c{n}") for n in range(count)
    ]


@contextlib.asynccontextmanager
async def challenge_dispatcher() -> AsyncIterator[AsyncDispatcher]:
    """An AsyncDispatcher whose every request_challenge is answered with `CHALLENGE`."""
    async with AsyncMultiMailClient(api_key=KEY, base_url=BASE, retry=FAST_RETRY) as client:
        with respx.mock(base_url=BASE) as mock:
            mock.post("/v1/account/challenge").mock(
                return_value=httpx.Response(200, json=CHALLENGE)
            )
            yield AsyncDispatcher(
                client, registry=load_registry("v2"), tools=["request_challenge"], mailbox_id=None
            )


def test_the_challenges_of_one_step_are_solved_one_after_another(
    harness: Harness, api: respx.MockRouter, solver: FakeSolver
) -> None:
    api.post("/v1/account/challenge").mock(return_value=httpx.Response(200, json=CHALLENGE))
    results = harness.run(
        challenges(4),
        many=True,
        registry=load_registry("v2"),
        tools=["request_challenge"],
        mailbox_id=None,
        max_concurrency=4,
    )
    assert [result.ok for result in results] == [True] * 4
    assert solver.calls == 4
    assert solver.most == 1  # never two at once, although four calls ran concurrently


def test_the_event_loop_keeps_running_while_challenges_wait_their_turn(
    solver: FakeSolver,
) -> None:
    async def scenario() -> tuple[int, list[bool]]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        async with challenge_dispatcher() as dispatcher:
            beat = asyncio.ensure_future(ticker())
            results = await asyncio.wait_for(dispatcher.dispatch_many(challenges(3)), 10)
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
        return ticks, [result.ok for result in results]

    ticks, oks = asyncio.run(scenario())
    assert oks == [True] * 3
    assert solver.most == 1
    assert ticks >= 5  # ~0.15 s of solving in threads; the loop kept ticking meanwhile


def test_a_cancelled_call_lets_its_solve_finish_before_the_next_starts(
    solver: FakeSolver,
) -> None:
    solver.seconds = 0.2

    async def scenario() -> list[bool]:
        async with challenge_dispatcher() as dispatcher:
            first = asyncio.ensure_future(dispatcher.dispatch(challenges(1)[0]))
            await asyncio.sleep(0.05)  # its solve is running in a thread
            first.cancel()
            second = await asyncio.wait_for(dispatcher.dispatch(challenges(1)[0]), 10)
            await asyncio.gather(first, return_exceptions=True)
            return [first.cancelled(), second.ok]

    assert asyncio.run(scenario()) == [True, True]
    assert solver.calls == 2
    assert solver.most == 1
