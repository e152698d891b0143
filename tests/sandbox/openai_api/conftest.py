"""The emulator served on loopback by uvicorn, with a clock the tests move by hand.

Until the package's `Sandbox` serves it, one uvicorn thread per test session listens on an
ephemeral loopback port, and each test mounts its own apps under a fresh prefix
(``/t<n>/v1``, as the `Sandbox` mounts at ``/openai/v1``), each on a SQLite file in
``tmp_path``. A test's apps are unmounted and closed when it ends, the server when the
session ends: starting and stopping uvicorn costs 0.2 s, the tests themselves far less.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import openai
import pytest
from starlette.routing import Mount, Router

from mm_assistants.sandbox.openai_api import OpenAIEmulatorSettings, create_openai_app
from tests.sandbox.openai_api.support import Emulator, FakeClock, Server, Start

_PREFIXES = itertools.count(1)


class Loopback(NamedTuple):
    port: int
    router: Router
    sdk: openai.OpenAI
    transport: httpx.HTTPTransport


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def loopback() -> Iterator[Loopback]:
    """The session's server: its port, the router tests mount their apps on, and an SDK
    client and an httpx transport for it (clients cost 50 ms each to make)."""
    router = Router()
    server = Server(router)
    port = server.start()
    sdk = openai.OpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{port}", max_retries=0)
    transport = httpx.HTTPTransport()
    yield Loopback(port, router, sdk, transport)
    transport.close()
    sdk.close()
    server.stop()


@pytest.fixture
def start_emulator(tmp_path: Path, clock: FakeClock, loopback: Loopback) -> Iterator[Start]:
    """Start an emulator (optionally on a given db file, with settings); all are
    unmounted and closed when the test ends."""
    router = loopback.router
    running: list[tuple[Mount, Emulator]] = []

    def start(
        settings: OpenAIEmulatorSettings | None = None, db_path: str | None = None
    ) -> Emulator:
        path = db_path or str(tmp_path / "oai.db")
        app = create_openai_app(db_path=path, clock=clock, settings=settings)
        prefix = f"/t{next(_PREFIXES)}/v1"
        mount = Mount(prefix, app=app)
        router.routes.append(mount)
        control = app.state.openai_emulator
        emulator = Emulator(
            loopback.port, prefix, clock, path, control, loopback.sdk, loopback.transport
        )
        running.append((mount, emulator))
        return emulator

    yield start
    for mount, emulator in running:
        router.routes.remove(mount)
        emulator.control.close()


@pytest.fixture
def emulator(start_emulator: Start) -> Emulator:
    return start_emulator()


@pytest.fixture
def client(emulator: Emulator) -> openai.OpenAI:
    return emulator.client()
