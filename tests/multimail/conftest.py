"""Runs each scenario through both MultiMailClient and AsyncMultiMailClient, against respx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import respx

from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient, RetryPolicy

BASE = "https://mm.test"
KEY = "mm_live_do_not_leak_0123456789"
#: Deterministic backoff: 0.25, 0.5, 1.0, ... with no jitter.
STEADY = RetryPolicy(max_attempts=3, jitter=0.0)


class Runner:
    """Calls one client method on a fresh sync or async client and records its sleeps.

    ``await runner.call("request", "GET", "/v1/account")`` works alike in both modes: the
    sync client is simply called from the (async) test.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sleeps: list[float] = []

    def __repr__(self) -> str:
        return self.mode

    def options(self, **overrides: Any) -> dict[str, Any]:
        options: dict[str, Any] = {
            "api_key": KEY,
            "base_url": BASE,
            "retry": STEADY,
            "random": lambda: 0.5,
        }
        options.update(overrides)
        return options

    async def call(self, method: str, *args: Any, client: Any = None, **kwargs: Any) -> Any:
        options = self.options(**(client or {}))
        if self.mode == "sync":
            with MultiMailClient(sleep=self.sleeps.append, **options) as sync_client:
                return getattr(sync_client, method)(*args, **kwargs)

        async def record(seconds: float) -> None:
            self.sleeps.append(seconds)

        async with AsyncMultiMailClient(sleep=record, **options) as async_client:
            return await getattr(async_client, method)(*args, **kwargs)


@pytest.fixture(params=["sync", "async"])
def runner(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)


@pytest.fixture(params=[MultiMailClient, AsyncMultiMailClient], ids=["sync", "async"])
def client_class(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture(autouse=True)
def _no_multimail_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own MULTIMAIL_* variables must not change what the tests see.
    monkeypatch.delenv("MULTIMAIL_API_KEY", raising=False)
    monkeypatch.delenv("MULTIMAIL_API_URL", raising=False)
