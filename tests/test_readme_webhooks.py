"""The README's "Receiving MultiMail webhooks" example, run as printed against the sandbox
(its environment, and the subscription's secret the README says to keep): the sandbox
delivers signed events to it over loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox
from mm_assistants.sandbox.serving import LoopbackServer
from tests.e2e.conftest import Reviewer, deliveries
from tests.e2e.inbound import eventually, subscribe_receiver
from tests.readme import python_blocks


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {"multimail_settings": MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05)}


def test_the_fastapi_example_routes_mail_and_wakes_approvals(
    mm_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (block,) = python_blocks("Receiving MultiMail webhooks")
    port, secret = subscribe_receiver(mm_sandbox)
    for name, value in mm_sandbox.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MULTIMAIL_WEBHOOK_SECRET", secret)
    monkeypatch.chdir(tmp_path)  # the example keeps routes.db in the working folder
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md", "exec"), namespace)  # as printed
    router, app = namespace["router"], namespace["app"]

    @app.post("/test-close")
    async def close_clients() -> None:
        # The example's async clients live on the server's event loop: close them there.
        await router.join()
        await namespace["dispatcher"].client.aclose()
        await router.openai.close()

    with LoopbackServer(app, port=port) as server, Reviewer(mm_sandbox, "approve"):
        email = mm_sandbox.multimail.inject_inbound(
            sender="ana@example.com", subject="Call on Friday?", markdown="Does 3 pm work?"
        )
        # The model (the sandbox's email assistant) replies; the reply is held, approved,
        # and the approval webhook wakes the wait: the reply leaves the sandbox.
        eventually(lambda: [d for d in deliveries(mm_sandbox) if d[1] == ["ana@example.com"]])
        response_id = eventually(lambda: router.store.target(email["thread_id"]))
        httpx.post(f"{server.url}/test-close", timeout=10).raise_for_status()
    assert response_id.startswith("resp_")
