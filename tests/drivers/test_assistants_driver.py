"""AssistantsRunDriver and AsyncAssistantsRunDriver: every way a run can end."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest
import respx

from mm_assistants import (
    ApprovalHub,
    ApprovalPolicy,
    AssistantsRunDriver,
    AsyncAssistantsRunDriver,
    AsyncDispatcher,
    AsyncMultiMailClient,
    Dispatcher,
    MemoryPendingStore,
    MultiMailClient,
    PollPolicy,
)
from tests.drivers.conftest import FAST, KEY, MM, Clock, fake

FASTPOLL = PollPolicy(first_interval=0.01, max_interval=0.02, min_interval=0.001)
QUICK_APPROVAL = ApprovalPolicy(max_wait=2.0, margin=1.0, first_delay=0.01, max_interval=0.02)
SEND = ("send_email", {"to": ["ana@example.com"], "subject": "Hi", "markdown": "Hello"})
READ = ("read_email", {"email_id": "em_in"})


def drive(
    mode: str,
    server: Any,
    *,
    method: str = "run",
    args: tuple[Any, ...] = ("thread_1", "asst_1"),
    store: Any = None,
    hub: Any = None,
    during: Any = None,
    **options: Any,
) -> Any:
    """Run one drive through the sync or async driver; ``during(driver)`` runs alongside."""
    options.setdefault("poll", FASTPOLL)
    options.setdefault("approvals", QUICK_APPROVAL)
    dispatch_options = {"mailbox_id": "mbx_1", "approval_store": store, "approval_hub": hub}
    if mode.startswith("sync"):
        with MultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
            driver = AssistantsRunDriver(
                server.client(),
                Dispatcher(client, **dispatch_options),
                mode=mode.split("-")[1],
                **options,
            )
            if during:
                threading.Thread(target=during, args=(driver,), daemon=True).start()
            return getattr(driver, method)(*args)

    async def scenario() -> Any:
        async with AsyncMultiMailClient(api_key=KEY, base_url=MM, retry=FAST) as client:
            driver = AsyncAssistantsRunDriver(
                server.async_client(),
                AsyncDispatcher(client, **dispatch_options),
                mode=mode.split("-")[1],
                **options,
            )
            if during:
                threading.Thread(target=during, args=(driver,), daemon=True).start()
            return await getattr(driver, method)(*args)

    return asyncio.run(scenario())


MODES = ["sync-poll", "sync-stream", "async-poll", "async-stream"]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_run_with_parallel_calls_submits_all_outputs_at_once(
    mode: str, clock: Clock, multimail: respx.MockRouter
) -> None:
    multimail.get("/v1/mailboxes/mbx_1/emails/em_in").respond(
        200, json={"id": "em_in", "subject": "Q"}
    )
    multimail.get("/v1/mailboxes/mbx_1/emails").respond(200, json={"emails": []})
    server = fake([[READ, ("check_inbox", {"limit": 5}), ("nope", {})], "All done."], clock)
    outcome = drive(mode, server)
    assert outcome.status == "completed"
    assert outcome.text == "All done."
    (submitted,) = server.runs["run_1"].outputs
    assert len(submitted) == 3
    assert [r.name for r in outcome.tool_results] == ["read_email", "check_inbox", "nope"]
    assert [r.ok for r in outcome.tool_results] == [True, True, False]
    assert outcome.steps == 1
    assert outcome.openai_requests == len(server.requests)
    if mode.endswith("stream"):
        assert outcome.openai_requests == 2  # one stream per turn, no polls
    else:
        assert outcome.openai_requests >= 4  # create, polls, submit, messages


def test_a_gated_send_waits_for_the_human_and_reports_the_approval(
    mode: str, clock: Clock, multimail: respx.MockRouter
) -> None:
    multimail.post("/v1/mailboxes/mbx_1/send").respond(
        202, json={"id": "em_out", "status": "pending_scan", "thread_id": "t"}
    )
    multimail.get("/v1/mailboxes/mbx_1/emails/em_out").mock(
        side_effect=[
            httpx.Response(200, json={"id": "em_out", "status": "pending_send_approval"}),
            httpx.Response(
                200,
                json={
                    "id": "em_out",
                    "status": "read",
                    "approved_at": "2026-11-22T10:00:00Z",
                    "approved_by": "op@x",
                    "delivered_at": "2026-11-22T10:00:01Z",
                },
            ),
        ]
    )
    server = fake([[SEND], "Sent after approval."], clock)
    outcome = drive(mode, server)
    assert outcome.status == "completed"
    (approval,) = outcome.approvals
    assert (approval.decision, approval.approved_by, approval.status_checks) == (
        "approved",
        "op@x",
        2,
    )
    output = json.loads(server.runs["run_1"].outputs[0][0]["output"])
    assert output["status"] == "approved_and_sent"


def test_a_rejection_reaches_the_model_with_its_reason(
    clock: Clock, multimail: respx.MockRouter
) -> None:
    multimail.post("/v1/mailboxes/mbx_1/send").respond(
        202, json={"id": "em_out", "status": "pending_scan"}
    )
    multimail.get("/v1/mailboxes/mbx_1/emails/em_out").respond(
        200, json={"id": "em_out", "status": "rejected", "rejection_reason": "Too pushy"}
    )
    server = fake([[SEND], "Rejected."], clock)
    outcome = drive("sync-poll", server)
    output = json.loads(server.runs["run_1"].outputs[0][0]["output"])
    assert (output["status"], output["reason"]) == ("rejected", "Too pushy")
    assert outcome.approvals[0].decision == "rejected"


def test_still_pending_at_the_deadline_is_recorded_and_delivered_later(
    clock: Clock, multimail: respx.MockRouter
) -> None:
    multimail.post("/v1/mailboxes/mbx_1/send").respond(
        202, json={"id": "em_out", "status": "pending_scan"}
    )
    status = multimail.get("/v1/mailboxes/mbx_1/emails/em_out").respond(
        200, json={"id": "em_out", "status": "pending_send_approval"}
    )
    store = MemoryPendingStore()
    server = fake([[SEND], "Waiting for approval."], clock)
    outcome = drive(
        "sync-poll",
        server,
        store=store,
        approvals=ApprovalPolicy(max_wait=0.2, first_delay=0.05, max_interval=0.05),
    )
    output = json.loads(server.runs["run_1"].outputs[0][0]["output"])
    assert output["status"] == "pending_send_approval"
    assert "do not send it again" in output["note"]
    assert outcome.approvals[0].decision == "pending"
    (record,) = store.all()
    assert (record.email_id, record.thread_id, record.run_id) == ("em_out", "thread_1", "run_1")

    status.respond(200, json={"id": "em_out", "status": "rejected", "rejection_reason": "No"})
    with MultiMailClient(api_key=KEY, base_url=MM) as client:
        driver = AssistantsRunDriver(server.client(), Dispatcher(client, approval_store=store))
        (late,) = driver.resolve_pending()
    assert late.decision == "rejected"
    assert store.all() == []
    ((thread_id, text),) = server.posted
    assert thread_id == "thread_1"
    assert "em_out" in text
    assert "rejected" in text


def test_the_wait_ends_before_the_run_expires(clock: Clock, multimail: respx.MockRouter) -> None:
    multimail.post("/v1/mailboxes/mbx_1/send").respond(
        202, json={"id": "em_out", "status": "pending_scan"}
    )
    multimail.get("/v1/mailboxes/mbx_1/emails/em_out").respond(
        200, json={"id": "em_out", "status": "pending_send_approval"}
    )
    server = fake([[SEND], "ok"], clock, expiry=3)
    started = time.monotonic()
    outcome = drive(
        "sync-poll",
        server,
        approvals=ApprovalPolicy(max_wait=60, margin=2.0, first_delay=0.05, max_interval=0.1),
    )
    assert time.monotonic() - started < 3
    assert outcome.status == "completed"  # submitted before expiry
    assert outcome.approvals[0].decision == "pending"


def test_a_run_that_expired_meanwhile_ends_expired_and_keeps_results(
    mode: str, clock: Clock, multimail: respx.MockRouter
) -> None:
    def slow_read(request: httpx.Request) -> httpx.Response:
        clock.shift += 700  # the server's clock passes expires_at while the tool runs
        return httpx.Response(200, json={"id": "em_in"})

    multimail.get("/v1/mailboxes/mbx_1/emails/em_in").mock(side_effect=slow_read)
    server = fake([[READ], "never"], clock)
    outcome = drive(mode, server)
    assert outcome.status == "expired"
    assert [r.name for r in outcome.tool_results] == ["read_email"]
    assert server.runs["run_1"].outputs == []


@pytest.mark.parametrize(
    ("final", "field"), [("failed", "last_error"), ("incomplete", "incomplete_reason")]
)
def test_failed_and_incomplete_runs_are_explicit_outcomes(
    clock: Clock, multimail: respx.MockRouter, final: str, field: str
) -> None:
    server = fake(["unused"], clock)
    server.final_status = final
    outcome = drive("sync-poll", server)
    assert outcome.status == final
    assert getattr(outcome, field)


def test_cancel_stops_the_run_server_side(
    mode: str, clock: Clock, multimail: respx.MockRouter
) -> None:
    server = fake(["never reached"], clock)
    server.working_polls = 10_000  # the run stays in progress until cancelled
    outcome = drive(
        mode.replace("stream", "poll"), server, during=lambda d: (time.sleep(0.1), d.cancel())
    )
    assert outcome.status == "cancelled"
    assert ("POST", "/threads/thread_1/runs/run_1/cancel") in server.requests


def test_the_drivers_own_deadline_cancels_a_stuck_run(
    clock: Clock, multimail: respx.MockRouter
) -> None:
    server = fake(["never reached"], clock)
    server.working_polls = 10_000
    outcome = drive("sync-poll", server, deadline=0.2)
    assert outcome.status == "cancelled"


def test_the_poll_after_header_sets_the_pace(clock: Clock, multimail: respx.MockRouter) -> None:
    server = fake(["done"], clock)
    server.working_polls = 3
    server.poll_after_ms = "40"
    started = time.monotonic()
    outcome = drive(
        "sync-poll",
        server,
        poll=PollPolicy(first_interval=2.0, max_interval=2.0, min_interval=0.001),
    )
    assert outcome.status == "completed"
    assert time.monotonic() - started < 1.5  # the 40 ms hint won over the 2 s default


def test_requires_action_can_be_left_to_the_caller(
    clock: Clock, multimail: respx.MockRouter
) -> None:
    server = fake([[READ], "x"], clock)
    outcome = drive("sync-poll", server, on_requires_action="return")
    assert outcome.status == "requires_action"
    assert outcome.tool_results == []


@pytest.mark.parametrize("mode", ["sync-poll", "async-stream"])
def test_create_thread_and_run_and_attach(
    mode: str, clock: Clock, multimail: respx.MockRouter
) -> None:
    server = fake(["Hello there."], clock)
    outcome = drive(mode, server, method="create_thread_and_run", args=("asst_1", ["hi"]))
    assert outcome.status == "completed"
    assert outcome.thread_id == "thread_1"
    other = fake(["Attached."], clock)
    other.runs["run_9"] = __import__("tests.drivers.fake_openai", fromlist=["FakeRun"]).FakeRun(
        id="run_9",
        thread_id="thread_7",
        assistant_id="asst_1",
        script=["Attached."],
        created_at=0,
        expires_at=int(clock()) + 600,
    )
    attached = drive(mode, other, method="attach", args=("thread_7", "run_9"))
    assert (attached.status, attached.run_id) == ("completed", "run_9")


def test_a_hub_wakes_the_approval_wait_without_polling(
    clock: Clock, multimail: respx.MockRouter
) -> None:
    multimail.post("/v1/mailboxes/mbx_1/send").respond(
        202, json={"id": "em_out", "status": "pending_scan"}
    )
    status = multimail.get("/v1/mailboxes/mbx_1/emails/em_out").respond(
        200, json={"status": "pending_send_approval"}
    )
    hub = ApprovalHub()
    threading.Timer(0.2, hub.publish_event, ("oversight.approved", {"email_id": "em_out"})).start()
    server = fake([[SEND], "ok"], clock)
    outcome = drive(
        "sync-poll",
        server,
        hub=hub,
        approvals=ApprovalPolicy(max_wait=5, first_delay=1, max_interval=1),
    )
    assert outcome.approvals[0].woken_by == "hub"
    assert not status.called


def test_the_outcome_as_json(clock: Clock, multimail: respx.MockRouter) -> None:
    multimail.get("/v1/mailboxes/mbx_1/emails/em_in").respond(200, json={"id": "em_in"})
    outcome = drive("sync-poll", fake([[READ], "Done."], clock))
    summary = json.loads(json.dumps(outcome.as_dict()))
    assert summary["status"] == "completed"
    assert summary["tool_results"][0]["name"] == "read_email"
    assert summary["text"] == "Done."


def test_bad_driver_options_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="mode"):
        AssistantsRunDriver(None, None, mode="push")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_requires_action"):
        AssistantsRunDriver(None, None, on_requires_action="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="deadline"):
        AssistantsRunDriver(None, None, deadline=0)
