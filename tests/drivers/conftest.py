"""Drivers against the in-process fake OpenAI server and a respx-mocked MultiMail."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import respx

from mm_assistants import _sunset
from mm_assistants.multimail import RetryPolicy
from tests.drivers.fake_openai import FakeOpenAI

MM = "https://mm.test"
KEY = "mm_test_driver_key"
FAST = RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.001, jitter=0)


class Clock:
    """Wall time plus a shift tests can add (the fake server's notion of now)."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


@pytest.fixture(autouse=True)
def quiet_sunset() -> Iterator[None]:
    # The drivers warn once per process; tests construct many drivers.
    _sunset.reset()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _sunset.AssistantsSunsetWarning)
        yield


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def multimail() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=MM, assert_all_called=False) as router:
        yield router


def fake(script: list[Any], clock: Clock, **options: Any) -> FakeOpenAI:
    return FakeOpenAI(script, now=clock, **options)
