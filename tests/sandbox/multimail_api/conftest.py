"""The MultiMail sandbox under test: an app per test on a SQLite file in ``tmp_path``, a
clock that stands still until a test moves it, and the recording event sink.

Most tests talk to the app through an ``httpx.Client`` whose transport (`PortalTransport`)
calls the app in-process on an anyio portal's event loop; `test_loopback` serves it with
uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from anyio.from_thread import BlockingPortal
from starlette.applications import Starlette

from mm_assistants.sandbox.clock import SandboxClock
from mm_assistants.sandbox.multimail_api import (
    MultiMailControl,
    MultiMailSandboxSettings,
    RecordingSink,
    SandboxSeed,
    create_multimail_app,
)

START = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class PortalTransport(httpx.BaseTransport):
    """A synchronous httpx transport that runs an ASGI app on a blocking portal's loop
    (httpx's own `ASGITransport` is async only)."""

    def __init__(self, app: Starlette, portal: BlockingPortal) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def call() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._portal.call(call)


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    with anyio.from_thread.start_blocking_portal() as running:
        yield running


@dataclass
class Sandbox:
    """One app under test and the handles a test needs."""

    app: Starlette
    clock: SandboxClock
    sink: RecordingSink
    db_path: str
    portal: BlockingPortal
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def control(self) -> MultiMailControl:
        control: MultiMailControl = self.app.state.multimail_sandbox
        return control

    @property
    def seed(self) -> SandboxSeed:
        return self.control.seed

    @property
    def mb(self) -> str:
        """The seed mailbox's path prefix."""
        return f"/v1/mailboxes/{self.seed.mailbox_id}"

    def client(self, key: str | None = None, *, header: str = "bearer") -> httpx.Client:
        """A client sending ``key`` (a scope name of the seed, or a raw key)."""
        headers = {}
        if key is not None:
            raw = self.seed.keys.get(key, key)
            headers = (
                {"Authorization": f"Bearer {raw}"} if header == "bearer" else {"X-API-Key": raw}
            )
        client = httpx.Client(
            base_url="http://testserver",
            headers=headers,
            transport=PortalTransport(self.app, self.portal),
        )
        self.clients.append(client)
        return client

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def attach(self, name: str, data: bytes, content_type: str = "application/pdf") -> str:
        """Deliver an inbound email carrying one attachment; its id."""
        attachment = {
            "name": name,
            "content_base64": base64.b64encode(data).decode(),
            "content_type": content_type,
        }
        email = self.control.inject_inbound(
            sender="ann@example.com", subject="Files", markdown="x", attachments=[attachment]
        )
        email_id: str = email["id"]
        return email_id

    def approved(self, client: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST ``body`` through the operator-code flow: the 202 that mails the code, then
        the same call with ``approval_code``."""
        first = client.post(path, json=body)
        if first.status_code != 202:
            return first
        flow = {"/v1/webhooks": "create_webhook", "/v1/api-keys": "create_api_key"}[path]
        return client.post(path, json={**body, "approval_code": self.control.approval_code(flow)})


Start = Callable[..., Sandbox]


@pytest.fixture
def start_sandbox(tmp_path: Path, portal: BlockingPortal) -> Iterator[Start]:
    """Make a sandbox (optionally on a given db file, with settings); closed at the end."""
    made: list[Sandbox] = []

    def start(
        settings: MultiMailSandboxSettings | None = None,
        db_path: str | None = None,
        clock: SandboxClock | None = None,
        sink: Any = None,
    ) -> Sandbox:
        clock = clock or SandboxClock(lambda: START)
        recorder = RecordingSink()
        path = db_path or str(tmp_path / "mm.db")
        settings = settings or MultiMailSandboxSettings(scan_delay=0.5, settle_interval=None)
        app = create_multimail_app(
            db_path=path, clock=clock, settings=settings, event_sink=sink or recorder
        )
        sandbox = Sandbox(app, clock, recorder, path, portal)
        made.append(sandbox)
        return sandbox

    yield start
    for sandbox in made:
        for client in sandbox.clients:
            client.close()
        sandbox.control.close()


@pytest.fixture
def sandbox(start_sandbox: Start) -> Sandbox:
    return start_sandbox()


@pytest.fixture
def sender(sandbox: Sandbox) -> httpx.Client:
    return sandbox.client("send")


@pytest.fixture
def reader(sandbox: Sandbox) -> httpx.Client:
    return sandbox.client("read")


@pytest.fixture
def overseer(sandbox: Sandbox) -> httpx.Client:
    return sandbox.client("oversight")


@pytest.fixture
def admin(sandbox: Sandbox) -> httpx.Client:
    return sandbox.client("admin")


def send_body(**overrides: Any) -> dict[str, Any]:
    """A valid send body."""
    return {"to": ["bob@example.com"], "subject": "Hello", "markdown": "Hi Bob", **overrides}
