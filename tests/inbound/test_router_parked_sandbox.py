"""A parked run resumed through the router, end to end on the sandbox (real ``openai``
SDK, real MultiMail client and dispatcher, real `ResponsesDriver` that parks): the request
that resumes it carries the held send's output first, then the mail that came while it
was parked; the thread then finishes and its next email starts a new run."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest

from mm_assistants.approvals import ApprovalPolicy, MemoryPendingStore
from mm_assistants.dispatch import Dispatcher
from mm_assistants.drivers import ResponsesDriver
from mm_assistants.inbound import InboundRouter
from mm_assistants.multimail import MultiMailClient, RetryPolicy
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox
from mm_assistants.state import MemoryCheckpointStore, MemoryRouteStore
from tests.inbound.fleet_fakes import email, mentions

SEND = {"to": ["bob@example.com"], "subject": "Quarterly numbers", "markdown": "Soon."}
SCRIPTS = {
    "send": [{"call": "send_email", "arguments": SEND}, {"say": "Done: {{outputs.send_email}}"}]
}
PARKING = ApprovalPolicy(max_wait=10, margin=1, first_delay=0.05, max_interval=0.1, park_after=0.3)


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {
        "multimail_settings": MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05),
        "openai_settings": OpenAIEmulatorSettings(
            model_latency=0.0, poll_after_ms=20, scripts=SCRIPTS
        ),
    }


@dataclass
class Stores:
    """What the workers of one fleet share."""

    routes: MemoryRouteStore = field(default_factory=MemoryRouteStore)
    checkpoints: MemoryCheckpointStore = field(default_factory=MemoryCheckpointStore)
    pending: MemoryPendingStore = field(default_factory=MemoryPendingStore)


class Requests:
    """The JSON bodies of the ``POST /responses`` requests a client sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/responses"):
            self.bodies.append(json.loads(request.content))


def worker(sandbox: Sandbox, stores: Stores, seen: Requests) -> Any:
    """A worker's router, with its own clients (another process in spirit) and the
    fleet's shared stores."""
    http = httpx.Client(event_hooks={"request": [seen]})
    client = openai.OpenAI(
        api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0, http_client=http
    )
    multimail = MultiMailClient(
        api_key=sandbox.keys["send"],
        base_url=sandbox.multimail_url,
        retry=RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05, jitter=0),
    )
    dispatcher = Dispatcher(
        multimail, mailbox_id=sandbox.mailbox_id, audit=None, approval_store=stores.pending
    )
    driver = ResponsesDriver(client, dispatcher, approvals=PARKING, checkpoints=stores.checkpoints)
    router = InboundRouter(
        client, dispatcher, model="scripted:send", driver=driver, store=stores.routes
    )
    return router, (client, multimail, http)


def test_a_resume_sends_the_outputs_then_the_mail_that_came_meanwhile(
    mm_sandbox: Sandbox,
) -> None:
    sandbox, stores = mm_sandbox, Stores()
    routes = stores.routes
    first_seen, second_seen = Requests(), Requests()
    first, first_clients = worker(sandbox, stores, first_seen)
    second, second_clients = worker(sandbox, stores, second_seen)
    try:
        started = first.route(email(1, thread="thr_p"))
        assert [o.status for o in started.outcomes] == ["parked"]
        assert routes.parked("thr_p") == started.outcomes[0].checkpoint_id
        assert first.route(email(2, thread="thr_p")).action == "queued"
        assert first.drain() == 0
        [record] = stores.pending.all()
        sandbox.multimail.decide(record.email_id, "approve", None)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            result = second.resume_for_email(record.email_id)
            if result.action != "parked":  # the decision is read from MultiMail
                break
            time.sleep(0.05)
        assert result.action == "resumed"
        assert [o.status for o in result.outcomes] == ["completed"]
        resume_request = second_seen.bodies[-1]
        kinds = [item.get("type") or item.get("role") for item in resume_request["input"]]
        assert kinds == ["function_call_output", "user"]
        assert mentions(resume_request["input"][1:], 2)
        assert "approved" in resume_request["input"][0]["output"]
        assert routes.parked("thr_p") is None
        assert routes.token("thr_p") is None
        assert routes.target("thr_p") == result.outcomes[0].run_id
        again = second.route(email(3, thread="thr_p"))
        assert again.action == "started"
        assert second_seen.bodies[-1]["previous_response_id"] == result.outcomes[0].run_id
    finally:
        for clients in (first_clients, second_clients):
            for client in clients:
                client.close()
