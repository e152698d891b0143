"""Helpers of the emulator tests: the fake clock, uvicorn in a thread, the handle of one
mounted app, tool lists. The fixtures built on them are in ``conftest.py``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import uvicorn

from mm_assistants.sandbox.openai_api import EmulatorControl

START_TIMEOUT = 5.0


class FakeClock:
    """A unix clock that stands still until a test shifts it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def shift(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Emulator:
    """One mounted app: its URL, clock, control handle and clients."""

    port: int
    prefix: str
    clock: FakeClock
    db_path: str
    control: EmulatorControl
    sdk: openai.OpenAI
    transport: httpx.HTTPTransport

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def client(self) -> openai.OpenAI:
        # a copy shares the session client's connection pool: a new SDK client costs 50 ms
        return self.sdk.with_options(base_url=self.base_url)

    def http(self) -> httpx.Client:
        # the session's transport (and its pool) outlives this client; the session closes it
        return httpx.Client(base_url=self.base_url, timeout=10, transport=self.transport)


Start = Callable[..., Emulator]


class Server:
    """uvicorn in a thread: started within `START_TIMEOUT`, stopped by `stop`."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> int:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.stop()
                raise RuntimeError("the emulator did not start")
            time.sleep(0.01)
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(START_TIMEOUT)


def function_tools(*names: str) -> list[dict[str, Any]]:
    """Assistants-style function tools with empty parameter schemas."""
    return [
        {
            "type": "function",
            "function": {"name": name, "parameters": {"type": "object", "properties": {}}},
        }
        for name in names
    ]


def flat_tools(*names: str) -> list[dict[str, Any]]:
    """Responses-style function tools."""
    return [
        {"type": "function", "name": name, "parameters": {"type": "object", "properties": {}}}
        for name in names
    ]
