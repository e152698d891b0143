"""A streaming driver whose ``on_event`` raises, behind the inbound router, on the sandbox:
the run's checkpoint is parked (status ``parked``, the callback's error kept), so the router
keeps the mail thread on it, queues the next mail, and a resume finishes the run with the
same call ids; the thread is never freed while that checkpoint can be resumed."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import Dispatcher
from mm_assistants.drivers import ResponsesDriver
from mm_assistants.drivers.stream_events import StreamEvent, ToolOutputReady
from mm_assistants.inbound import InboundRouter
from mm_assistants.multimail import MultiMailClient, RetryPolicy
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox
from tests.inbound.fleet_fakes import email
from tests.inbound.test_router_parked_sandbox import Stores

SCRIPTS = {"look": [{"call": "check_inbox", "arguments": {}}, {"say": "Looked."}]}
PARKING = ApprovalPolicy(max_wait=10, margin=1, first_delay=0.05, max_interval=0.1, park_after=5)


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {
        "multimail_settings": MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05),
        "openai_settings": OpenAIEmulatorSettings(
            model_latency=0.0, poll_after_ms=20, scripts=SCRIPTS
        ),
    }


class UiGone(Exception):
    pass


def stop_after_output(event: StreamEvent) -> None:
    if isinstance(event, ToolOutputReady):
        raise UiGone("the UI went away")


def test_a_run_its_callback_stopped_keeps_its_thread_parked_until_resumed(
    mm_sandbox: Sandbox,
) -> None:
    sandbox, stores = mm_sandbox, Stores()
    client = openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0)
    multimail = MultiMailClient(
        api_key=sandbox.keys["send"],
        base_url=sandbox.multimail_url,
        retry=RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05, jitter=0),
    )
    try:
        dispatcher = Dispatcher(multimail, mailbox_id=sandbox.mailbox_id, audit=None)

        def router(on_event: Any) -> InboundRouter:
            driver = ResponsesDriver(
                client,
                dispatcher,
                approvals=PARKING,
                checkpoints=stores.checkpoints,
                stream=True,
                on_event=on_event,
            )
            return InboundRouter(
                client, dispatcher, model="scripted:look", driver=driver, store=stores.routes
            )

        stopping = router(stop_after_output)
        started = stopping.route(email(1, thread="thr_s"))
        [outcome] = started.outcomes
        assert (outcome.status, outcome.incomplete_reason) == ("parked", "on_event_raised")
        assert isinstance(outcome.last_error, UiGone)
        checkpoint = outcome.checkpoint_id
        assert checkpoint is not None
        # the thread stays on the run's checkpoint: new mail waits, no second run starts
        assert stores.routes.parked("thr_s") == checkpoint
        assert stopping.route(email(2, thread="thr_s")).action == "queued"
        assert stores.checkpoints.lapsed(10) == []  # no sweep resumes it behind the caller

        resumed = router(None).resume("thr_s")
        assert resumed.action == "resumed"
        assert next(o.status for o in resumed.outcomes) == "completed"
        assert resumed.outcomes[0].checkpoint_id == checkpoint
        assert stores.routes.parked("thr_s") is None
    finally:
        client.close()
        multimail.close()
