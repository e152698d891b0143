"""Parked Responses runs on the sandbox: a run parks, the human decides, and a NEW driver
(new clients, as in another process) resumes it to its end; races between resumers,
crashes mid-dispatch, the 24 h and 25 day rules, and the fallback to the late-decision
path when OpenAI no longer has the response."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

import openai
import pytest

from mm_assistants.approvals import (
    ApprovalHub,
    ApprovalPolicy,
    MemoryPendingStore,
    resolve_pending,
)
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher, calls_from_response
from mm_assistants.drivers import AsyncResponsesDriver, ResponsesDriver, RunOutcome, parking
from mm_assistants.drivers.parked import Parking
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient
from mm_assistants.sandbox import Sandbox
from mm_assistants.state import (
    CheckpointStore,
    MemoryCheckpointStore,
    PendingStore,
    SQLiteCheckpointStore,
    SQLitePendingStore,
)
from mm_assistants.tools import ToolRegistry
from tests.e2e.conftest import FAST_RETRY, deliveries, outbound, requests_to, wait_until_held

CREATE = "POST /responses"
ASK = "Please handle my email."
PARK = ApprovalPolicy(max_wait=10, margin=1, first_delay=0.05, max_interval=0.1, park_after=0.3)


class Worker:
    """A driver with its own clients, as another process would build it."""

    def __init__(
        self,
        sandbox: Sandbox,
        checkpoints: CheckpointStore,
        pending: PendingStore,
        **options: Any,
    ) -> None:
        self._stack = ExitStack()
        self.openai = self._stack.enter_context(
            openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0)
        )
        client = self._stack.enter_context(
            MultiMailClient(
                api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, retry=FAST_RETRY
            )
        )
        self.dispatcher = Dispatcher(
            client,
            mailbox_id=sandbox.mailbox_id,
            audit=None,
            approval_store=pending,
            tools=options.pop("tools", None),
            approval_hub=options.pop("approval_hub", None),
            registry=options.pop("registry", None),
        )
        options.setdefault("approvals", PARK)
        self.driver = ResponsesDriver(
            self.openai, self.dispatcher, checkpoints=checkpoints, **options
        )

    def close(self) -> None:
        self._stack.close()


@pytest.fixture
def checkpoints() -> MemoryCheckpointStore:
    return MemoryCheckpointStore()


@pytest.fixture
def worker(
    sandbox: Sandbox,
    checkpoints: MemoryCheckpointStore,
    store: MemoryPendingStore,
    registry: ToolRegistry,
) -> Iterator[Any]:
    """``worker(**options)``: a new `Worker` on the tools of `schema_version`, closed when
    the test ends."""
    made: list[Worker] = []

    def make(**options: Any) -> Worker:
        options.setdefault("registry", registry)
        made.append(Worker(sandbox, checkpoints, store, **options))
        return made[-1]

    yield make
    for each in made:
        each.close()


def parked_run(worker: Any, **run_options: Any) -> RunOutcome:
    outcome: RunOutcome = worker().driver.run(ASK, model="scripted:send", **run_options)
    assert outcome.status == "parked", outcome.as_dict()
    assert outcome.checkpoint_id is not None
    return outcome


def submitted_output(outcome: RunOutcome) -> dict[str, Any]:
    """The held call's output the resume submitted (the last tool result)."""
    result: dict[str, Any] = json.loads(outcome.tool_results[-1].output)
    return result


@pytest.mark.parametrize(
    ("action", "reason", "status"),
    [
        pytest.param("approve", None, "approved_and_sent", id="approved"),
        pytest.param("reject", "Not this quarter.", "rejected", id="rejected"),
    ],
)
def test_a_parked_run_is_resumed_by_another_driver_with_the_decision(
    action: str,
    reason: str | None,
    status: str,
    sandbox: Sandbox,
    worker: Any,
    checkpoints: MemoryCheckpointStore,
    store: MemoryPendingStore,
) -> None:
    parked = parked_run(worker, checkpoint_meta={"mm_thread": "t1"})
    email = wait_until_held(sandbox)
    [record] = store.all()
    assert parking.resume_target(record) == parked.checkpoint_id
    assert resolve_pending(store, lambda *_: email, lambda *_: None) == []  # the resume's

    sandbox.multimail.decide(email["id"], action, reason)
    outcome = worker().driver.resume(str(parked.checkpoint_id))

    assert outcome.status == "completed", outcome.as_dict()
    answer = submitted_output(outcome)
    assert answer["status"] == status
    assert answer["id"] == email["id"]
    assert answer.get("reason") == reason
    assert f'"status": "{status}"' in outcome.text or status in outcome.text
    assert len(deliveries(sandbox)) == (1 if action == "approve" else 0)
    assert checkpoints.get(str(parked.checkpoint_id)) is None
    assert store.all() == []  # the decision travelled with the output
    assert worker().driver.resume(str(parked.checkpoint_id)).status == "gone"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_run_parked_in_a_shared_store_is_resumed_by_another_worker(
    backend: str, sandbox: Sandbox, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "postgres":
        from mm_assistants.state.postgres import PostgresState

        shared = PostgresState(request.getfixturevalue("pg_dsn"))
        request.addfinalizer(shared.close)
        checkpoints, pending = shared.checkpoints, shared.pending
    else:
        checkpoints = SQLiteCheckpointStore(tmp_path / "checkpoints.db")
        pending = SQLitePendingStore(tmp_path / "pending.db")
    first = Worker(sandbox, checkpoints, pending)
    request.addfinalizer(first.close)
    parked = first.driver.run(ASK, model="scripted:send", checkpoint_meta={"mm_thread": "t1"})
    assert parked.status == "parked"
    [record] = pending.all()
    assert parking.resume_target(record) == parked.checkpoint_id
    sandbox.multimail.decide(record.email_id, "approve")

    second = Worker(sandbox, checkpoints, pending)
    request.addfinalizer(second.close)
    outcome = second.driver.resume(str(parked.checkpoint_id))

    assert outcome.status == "completed", outcome.as_dict()
    assert submitted_output(outcome)["status"] == "approved_and_sent"
    assert checkpoints.get(str(parked.checkpoint_id)) is None
    assert pending.all() == []
    assert len(deliveries(sandbox)) == 1


def test_a_decision_the_hub_knows_is_submitted_without_a_status_request(
    sandbox: Sandbox, checkpoints: MemoryCheckpointStore, store: MemoryPendingStore
) -> None:
    hub = ApprovalHub()
    first = Worker(sandbox, checkpoints, store, approval_hub=hub)
    parked = first.driver.run(ASK, model="scripted:send")
    assert parked.status == "parked"
    email = wait_until_held(sandbox)
    decided = sandbox.multimail.decide(email["id"], "approve")
    hub.publish_event("oversight.approved", {"email_id": email["id"], **decided})
    second = Worker(sandbox, checkpoints, store, approval_hub=hub)
    looks: list[str] = []
    second.dispatcher.fetch_email = lambda *ids: looks.append(ids[0])  # type: ignore[method-assign]
    try:
        outcome = second.driver.resume(str(parked.checkpoint_id))
    finally:
        first.close()
        second.close()

    assert outcome.status == "completed", outcome.as_dict()
    assert looks == []
    [approval] = [r.approval for r in outcome.tool_results if r.approval is not None][-1:]
    assert approval.woken_by == "hub"
    assert submitted_output(outcome)["status"] == "approved_and_sent"


def test_a_resume_before_the_decision_stays_parked(
    sandbox: Sandbox, worker: Any, checkpoints: MemoryCheckpointStore
) -> None:
    parked = parked_run(worker)
    wait_until_held(sandbox)
    creates = requests_to(sandbox, CREATE)

    again = worker().driver.resume(str(parked.checkpoint_id))

    assert again.status == "parked"
    assert again.checkpoint_id == parked.checkpoint_id
    assert requests_to(sandbox, CREATE) == creates  # nothing submitted
    stored = checkpoints.get(str(parked.checkpoint_id))
    assert stored is not None
    assert stored.claimed_until is None


def test_a_parked_run_holds_no_thread_and_makes_no_request(sandbox: Sandbox, worker: Any) -> None:
    one = worker()
    before = threading.active_count()
    outcome = one.driver.run(ASK, model="scripted:send")
    assert outcome.status == "parked"
    assert threading.active_count() == before
    seen = sandbox.multimail.counters() if hasattr(sandbox.multimail, "counters") else None
    creates = requests_to(sandbox, CREATE)
    time.sleep(0.3)
    assert requests_to(sandbox, CREATE) == creates
    if seen is not None:
        assert sandbox.multimail.counters() == seen  # no status poll goes on


def test_two_resumes_at_once_one_runs_the_other_is_busy(sandbox: Sandbox, worker: Any) -> None:
    parked = parked_run(worker)
    sandbox.multimail.decide(wait_until_held(sandbox)["id"], "approve")
    sandbox.openai.update(model_latency=0.5)  # the first resume is still submitting
    drivers = [worker().driver, worker().driver]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def resume(driver: ResponsesDriver) -> None:
        start.wait(5)
        outcomes.append(driver.resume(str(parked.checkpoint_id)).status)

    threads = [threading.Thread(target=resume, args=(d,)) for d in drivers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(outcomes) == ["busy", "completed"]
    assert len(deliveries(sandbox)) == 1


def test_a_lapsed_resumer_is_replaced_and_its_late_writes_are_refused(
    sandbox: Sandbox, worker: Any, checkpoints: MemoryCheckpointStore
) -> None:
    parked = parked_run(worker)
    checkpoint_id = str(parked.checkpoint_id)
    wait_until_held(sandbox)
    dead = checkpoints.claim(checkpoint_id, until=time.time() + 0.2)  # it never renews
    assert dead is not None

    assert worker().driver.resume(checkpoint_id).status == "busy"
    time.sleep(0.3)
    assert worker().driver.resume(checkpoint_id).status == "parked"  # replaced: claimed

    stored = checkpoints.get(checkpoint_id)
    assert stored is not None
    assert not checkpoints.put(checkpoint_id, b"{}", format_version=1, token=dead.token)
    assert not checkpoints.delete(checkpoint_id, token=dead.token)
    assert checkpoints.get(checkpoint_id) == stored


def test_a_resumer_that_died_after_its_submit_is_continued_without_a_second_submit(
    sandbox: Sandbox, worker: Any, checkpoints: MemoryCheckpointStore
) -> None:
    parked = parked_run(worker)
    checkpoint_id = str(parked.checkpoint_id)
    sandbox.multimail.decide(wait_until_held(sandbox)["id"], "approve")
    dying = worker()
    stored = checkpoints.get(checkpoint_id)
    assert stored is not None
    saved = parking.decode(stored.record, stored.format_version)
    [held] = saved.held()
    output = {"type": "function_call_output", "call_id": held.call_id, "output": "{}"}
    answer = dying.openai.responses.create(**parking.follow_up_request(saved, [output], []))
    checkpoints.put(  # recorded, then the process died before going on
        checkpoint_id,
        parking.encode(parking.submitted(saved, answer.id)),
        format_version=parking.FORMAT_VERSION,
    )
    creates = requests_to(sandbox, CREATE)

    outcome = worker().driver.resume(checkpoint_id)

    assert outcome.status == "completed", outcome.as_dict()
    assert outcome.run.id == answer.id
    assert requests_to(sandbox, CREATE) == creates  # the outputs were not submitted again
    assert checkpoints.get(checkpoint_id) is None


def test_a_heartbeat_keeps_a_long_resume_its_claim(
    sandbox: Sandbox, worker: Any, checkpoints: MemoryCheckpointStore
) -> None:
    parked = parked_run(worker)
    checkpoint_id = str(parked.checkpoint_id)
    sandbox.multimail.decide(wait_until_held(sandbox)["id"], "approve")
    sandbox.openai.update(model_latency=1.0)  # the submit outlasts the 0.3 s lease
    slow = worker(checkpoint_lease=0.3).driver
    outcomes: list[str] = []
    thread = threading.Thread(target=lambda: outcomes.append(slow.resume(checkpoint_id).status))
    thread.start()
    try:
        time.sleep(0.7)
        assert worker().driver.resume(checkpoint_id).status == "busy"
    finally:
        thread.join(10)
    assert outcomes == ["completed"]
    assert len(deliveries(sandbox)) == 1


def dispatching_checkpoint(
    sandbox: Sandbox, one: Worker, checkpoints: MemoryCheckpointStore, *, age: float = 0.0
) -> tuple[str, Any]:
    """A step checkpointed as ``dispatching`` whose send went out once, as if the
    process died mid-dispatch (its claim lapsed): (checkpoint id, the step's calls)."""
    response = one.openai.responses.create(
        model="scripted:send", input=ASK, tools=one.dispatcher.tool_definitions("responses")
    )
    calls = calls_from_response(response)
    park = Parking(checkpoints, PARK, one.dispatcher, lambda: time.time() - age)
    opened = park.open_step(
        response.id, calls, request={"model": "scripted:send"}, meta={}, steps=0
    )
    assert opened is not None
    checkpoint, lease = opened
    lease.release()  # the process is gone; its claim with it
    return checkpoint.checkpoint_id, calls


def test_a_crash_mid_dispatch_re_dispatches_the_same_calls_and_sends_once(
    sandbox: Sandbox, worker: Any, checkpoints: MemoryCheckpointStore
) -> None:
    one = worker()
    checkpoint_id, calls = dispatching_checkpoint(sandbox, one, checkpoints)
    first = one.dispatcher.dispatch(calls[0])  # the attempt before the crash
    assert first.pending is not None

    again = worker().driver.resume(checkpoint_id)

    assert again.status == "parked"
    assert again.tool_results[0].idempotency_key == first.idempotency_key
    assert [e["id"] for e in outbound(sandbox)] == [first.pending.email_id]
    sandbox.multimail.decide(first.pending.email_id, "approve")
    done = worker().driver.resume(checkpoint_id)
    assert done.status == "completed", done.as_dict()
    assert len(outbound(sandbox)) == 1
    assert len(deliveries(sandbox)) == 1


def test_a_send_first_attempted_over_24_hours_ago_is_never_re_sent(
    sandbox: Sandbox, worker: Any, checkpoints: MemoryCheckpointStore
) -> None:
    checkpoint_id, _ = dispatching_checkpoint(sandbox, worker(), checkpoints, age=25 * 3600)

    outcome = worker().driver.resume(checkpoint_id)

    assert outcome.status == "completed", outcome.as_dict()
    assert outbound(sandbox) == []
    assert "outcome is unknown" in outcome.text or "unknown" in outcome.text


def test_a_park_older_than_25_days_falls_back_to_the_late_decision_path(
    sandbox: Sandbox, worker: Any, store: MemoryPendingStore, checkpoints: MemoryCheckpointStore
) -> None:
    parked = parked_run(worker)
    email = wait_until_held(sandbox)
    sandbox.multimail.decide(email["id"], "approve")
    later = worker(clock=lambda: time.time() + 26 * 86400)

    outcome = later.driver.resume(str(parked.checkpoint_id))

    assert (outcome.status, outcome.incomplete_reason) == ("expired", "park_expired")
    assert checkpoints.get(str(parked.checkpoint_id)) is None
    told: list[str] = []
    resolve_pending(store, later.dispatcher.fetch_email, lambda r, o: told.append(o.decision))
    assert told == ["approved"]


def test_a_response_gone_at_openai_falls_back_to_the_late_decision_path(
    sandbox: Sandbox, worker: Any, store: MemoryPendingStore
) -> None:
    parked = parked_run(worker)
    email = wait_until_held(sandbox)
    sandbox.openai.update(response_retention_seconds=1)
    sandbox.clock.advance(5)
    sandbox.multimail.decide(email["id"], "reject", "No.")
    one = worker()

    outcome = one.driver.resume(str(parked.checkpoint_id))

    assert (outcome.status, outcome.incomplete_reason) == ("expired", "response_gone")
    told: list[str] = []
    resolve_pending(store, one.dispatcher.fetch_email, lambda r, o: told.append(o.decision))
    assert told == ["rejected"]


def test_a_resume_with_another_tool_set_is_refused_and_changes_nothing(
    sandbox: Sandbox, worker: Any, checkpoints: MemoryCheckpointStore
) -> None:
    parked = parked_run(worker)
    before = checkpoints.get(str(parked.checkpoint_id))

    with pytest.raises(parking.CheckpointError, match="another tool set"):
        worker(tools=["send_email", "check_inbox"]).driver.resume(str(parked.checkpoint_id))
    assert checkpoints.get(str(parked.checkpoint_id)) == before


def test_parking_refuses_store_false_before_anything_is_sent(sandbox: Sandbox, worker: Any) -> None:
    with pytest.raises(ValueError, match="store=False"):
        worker().driver.run(ASK, model="scripted:send", store=False)
    assert requests_to(sandbox, CREATE) == 0


def test_a_checkpoint_holds_the_full_request_and_no_secret(
    sandbox: Sandbox, worker: Any, checkpoints: MemoryCheckpointStore
) -> None:
    parked = parked_run(worker, instructions="Be brief.", checkpoint_meta={"mm_thread": "t9"})
    stored = checkpoints.get(str(parked.checkpoint_id))
    assert stored is not None
    text = stored.record.decode()
    for secret in (*sandbox.keys.values(), "sk-sandbox"):
        assert secret not in text
    saved = json.loads(text)
    assert saved["request"]["instructions"] == "Be brief."
    assert saved["request"]["model"] == "scripted:send"
    assert saved["request"]["tools"]
    assert saved["meta"] == {"mm_thread": "t9"}
    sandbox.multimail.decide(wait_until_held(sandbox)["id"], "approve")

    outcome = worker().driver.resume(str(parked.checkpoint_id))

    # previous_response_id does not carry instructions over: the resume sent them again
    assert outcome.status == "completed"
    assert outcome.run.instructions == "Be brief."


async def test_an_async_parked_run_is_resumed_by_another_driver(
    sandbox: Sandbox,
    checkpoints: MemoryCheckpointStore,
    store: MemoryPendingStore,
    registry: ToolRegistry,
) -> None:
    async def driver(stack: Any) -> AsyncResponsesDriver:
        ai = openai.AsyncOpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0)
        client = AsyncMultiMailClient(
            api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, retry=FAST_RETRY
        )
        stack.push_async_callback(ai.close)
        stack.push_async_callback(client.aclose)
        dispatcher = AsyncDispatcher(
            client,
            registry=registry,
            mailbox_id=sandbox.mailbox_id,
            audit=None,
            approval_store=store,
        )
        return AsyncResponsesDriver(ai, dispatcher, approvals=PARK, checkpoints=checkpoints)

    async with AsyncExitStack() as stack:
        parked = await (await driver(stack)).run(ASK, model="scripted:send")
        assert parked.status == "parked"
        early = await (await driver(stack)).resume(str(parked.checkpoint_id))
        assert early.status == "parked"
        sandbox.multimail.decide(wait_until_held(sandbox)["id"], "approve")
        outcome = await (await driver(stack)).resume(str(parked.checkpoint_id))
        again = await (await driver(stack)).resume(str(parked.checkpoint_id))

    assert outcome.status == "completed", outcome.as_dict()
    assert submitted_output(outcome)["status"] == "approved_and_sent"
    assert len(deliveries(sandbox)) == 1
    assert again.status == "gone"
    assert store.all() == []


def test_the_sandbox_forgets_unstored_and_expired_responses(
    sandbox: Sandbox, openai_client: openai.OpenAI
) -> None:
    kept = openai_client.responses.create(model="scripted:hello", input="hi")
    unstored = openai_client.responses.create(model="scripted:hello", input="hi", store=False)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(unstored.id)
    assert openai_client.responses.retrieve(kept.id).id == kept.id

    sandbox.openai.update(response_retention_seconds=60)
    sandbox.clock.advance(61)

    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(kept.id)
    for gone in (kept.id, unstored.id):
        with pytest.raises(openai.BadRequestError) as caught:
            openai_client.responses.create(
                model="scripted:hello", input="again", previous_response_id=gone
            )
        assert caught.value.code == "previous_response_not_found"
