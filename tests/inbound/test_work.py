"""`FleetWork` end to end on the sandbox (real ``openai`` SDK, real MultiMail client and
dispatcher, real `ResponsesDriver`), on memory, SQLite and PostgreSQL stores: the web
process admits without claiming, a task runs and finishes the thread, a redelivered task
finds a live claim and leaves at once, a dead worker's mail runs exactly once more, too many
lost workers end the thread ``failed``, and the sweep finds decided and lapsed parked runs.

Each run answers with one ``send_email`` (held by the sandbox's ``gated_send`` mailbox),
so the sandbox's held emails are the replies: one per run, never two."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.approvals.watch import decision_rank
from mm_assistants.dispatch import Dispatcher
from mm_assistants.drivers import ResponsesDriver
from mm_assistants.inbound import FleetWork, InboundRouter
from mm_assistants.multimail import MultiMailClient, RetryPolicy
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox
from mm_assistants.state import (
    CheckpointStore,
    DecisionStore,
    MemoryCheckpointStore,
    MemoryDecisionStore,
    MemoryPendingStore,
    MemoryRouteStore,
    PendingStore,
    RouteStore,
    SQLiteCheckpointStore,
    SQLitePendingStore,
    SQLiteRouteStore,
)
from tests.inbound.fleet_fakes import email, mentions

SEND = {"to": ["bob@example.com"], "subject": "Re: your note", "markdown": "Noted."}
SCRIPTS = {
    "send": [{"call": "send_email", "arguments": SEND}, {"say": "Done: {{outputs.send_email}}"}]
}
PARKING = ApprovalPolicy(max_wait=10, margin=1, first_delay=0.05, max_interval=0.1, park_after=0.3)
LEASE = 0.6  # a worker silent this long is taken for dead
LAPSE = LEASE + 0.2
BACKENDS = ("memory", "postgres", "sqlite")


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
    """What the workers of one fleet share, on one backend."""

    routes: RouteStore
    checkpoints: CheckpointStore
    pending: PendingStore
    decisions: DecisionStore
    closing: list[Any] = field(default_factory=list)


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "memory":
        yield Stores(
            MemoryRouteStore(lease=LEASE),
            MemoryCheckpointStore(),
            MemoryPendingStore(),
            MemoryDecisionStore(),
        )
        return
    if request.param == "sqlite":
        path = tmp_path / "state.db"
        made = Stores(
            SQLiteRouteStore(path, lease=LEASE),
            SQLiteCheckpointStore(path),
            SQLitePendingStore(path),
            MemoryDecisionStore(),
        )
        made.closing += [made.routes, made.checkpoints, made.pending]
    else:
        from mm_assistants.state.postgres import PostgresState

        state = PostgresState(request.getfixturevalue("pg_dsn"), lease=LEASE)
        made = Stores(state.routes, state.checkpoints, state.pending, state.decisions, [state])
    try:
        yield made
    finally:
        for store in made.closing:
            store.close()


class Requests:
    """The JSON bodies of the ``POST /responses`` requests the workers sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> None:
        if request.method == "POST" and request.url.path.endswith("/responses"):
            self.bodies.append(json.loads(request.content))

    def posted(self, number: int) -> int:
        """How many requests carried inbound email ``number`` to the model."""
        return sum(
            mentions([item for item in body["input"] if "content" in item], number)
            for body in self.bodies
        )


@dataclass
class Fleet:
    """A worker's `FleetWork` over the shared stores, with its own clients."""

    work: FleetWork
    requests: Requests
    clients: list[Any]


def fleet(
    sandbox: Sandbox, stores: Stores, *, parking: bool = False, max_attempts: int = 3
) -> Fleet:
    requests = Requests()
    http = httpx.Client(event_hooks={"request": [requests]})
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
    if parking:
        driver = ResponsesDriver(
            client, dispatcher, approvals=PARKING, checkpoints=stores.checkpoints
        )
    else:  # the held send's output says it waits for a person; the run completes
        driver = ResponsesDriver(client, dispatcher, approvals=ApprovalPolicy(wait=False))
    router = InboundRouter(
        client, dispatcher, model="scripted:send", driver=driver, store=stores.routes
    )
    work = FleetWork(
        router,
        pending=stores.pending,
        checkpoints=stores.checkpoints,
        decisions=stores.decisions,
        max_attempts=max_attempts,
    )
    return Fleet(work, requests, [client, multimail, http])


@pytest.fixture
def worker(mm_sandbox: Sandbox, stores: Stores) -> Iterator[Fleet]:
    made = fleet(mm_sandbox, stores)
    try:
        yield made
    finally:
        for client in made.clients:
            client.close()


def replies(sandbox: Sandbox) -> int:
    """The sends the runs made (each held for a person by the ``gated_send`` mailbox)."""
    return len(sandbox.multimail.pending())


def test_admit_queues_without_claiming_and_a_task_runs_and_finishes_the_thread(
    mm_sandbox: Sandbox, stores: Stores, worker: Fleet
) -> None:
    work = worker.work
    admitted = work.admit(email(1, thread="thr_a"))
    assert (admitted.action, admitted.mm_thread) == ("queued", "thr_a")
    assert stores.routes.token("thr_a") is None  # the web process never claims
    assert worker.requests.bodies == []  # nor runs anything
    repeat = work.admit(email(1, thread="thr_a"))
    assert (repeat.action, repeat.mm_thread) == ("duplicate", None)
    assert work.sweep().threads == ["thr_a"]  # an admission no bell rang is found

    routed = work.route_inbound("thr_a")
    assert routed.action == "started"
    assert [o.status for o in routed.outcomes] == ["completed"]
    assert (stores.routes.token("thr_a"), stores.routes.stalled()) == (None, [])
    assert stores.routes.target("thr_a") == routed.outcomes[0].run_id
    assert (replies(mm_sandbox), worker.requests.posted(1)) == (1, 1)
    assert work.route_inbound("thr_a").action == "ignored"  # a redelivered task: nothing
    assert (replies(mm_sandbox), len(work.sweep())) == (1, 0)


def test_a_task_finding_a_live_claim_leaves_at_once(
    mm_sandbox: Sandbox, stores: Stores, worker: Fleet
) -> None:
    work = worker.work
    work.admit(email(1, thread="thr_b"))
    holder = stores.routes.claim("thr_b", recover=True)  # another worker is running it
    assert holder is not None
    work.admit(email(2, thread="thr_b"))
    began = time.monotonic()
    busy = work.route_inbound("thr_b")
    assert busy.action == "busy"
    assert time.monotonic() - began < 1.0  # no wait for the lease
    assert (replies(mm_sandbox), worker.requests.bodies) == (0, [])
    assert stores.routes.token("thr_b") == holder.token  # the holder keeps its claim
    assert [m.email_id for m in stores.routes.finish("thr_b", token=holder.token)] == ["em_2"]


def test_a_dead_workers_mail_is_run_exactly_once_more_after_the_sweep(
    mm_sandbox: Sandbox, stores: Stores, worker: Fleet
) -> None:
    work = worker.work
    for number, thread in ((1, "thr_c"), (2, "thr_d")):
        work.admit(email(number, thread=thread))
        dead = stores.routes.claim(thread, recover=True)  # a worker took it, then died
        assert dead is not None
        assert [m.email_id for m in dead] == [f"em_{number}"]
    assert work.sweep().threads == []  # their leases still run
    time.sleep(LAPSE)
    plan = work.sweep()
    assert sorted(plan.threads) == ["thr_c", "thr_d"]
    for thread in plan.threads:
        routed = work.route_inbound(thread)
        assert routed.action == "started"
        assert [o.status for o in routed.outcomes] == ["completed"]
    assert replies(mm_sandbox) == 2  # one reply per message
    assert (worker.requests.posted(1), worker.requests.posted(2)) == (1, 1)
    assert [work.route_inbound(t).action for t in plan.threads] == ["ignored", "ignored"]
    assert (replies(mm_sandbox), len(work.sweep())) == (2, 0)


def test_after_max_attempts_lost_workers_the_thread_ends_failed(
    mm_sandbox: Sandbox, stores: Stores
) -> None:
    made = fleet(mm_sandbox, stores, max_attempts=2)
    try:
        work = made.work
        work.admit(email(1, thread="thr_f"))
        for lost in range(2):
            dead = stores.routes.claim("thr_f", recover=True)
            assert dead is not None
            assert dead.attempts == lost
            time.sleep(LAPSE)  # ... and its worker died
        assert work.sweep().threads == ["thr_f"]
        failed = work.route_inbound("thr_f")
        assert (failed.action, failed.reason) == ("failed", "2 workers were lost on it")
        [kept] = stores.routes.failed()
        assert kept.mm_thread == "thr_f"
        assert [m.email_id for m in kept.messages] == ["em_1"]
        assert (replies(mm_sandbox), made.requests.bodies) == (0, [])  # never run, nor looped
        assert len(work.sweep()) == 0
        assert work.route_inbound("thr_f").action == "ignored"
    finally:
        for client in made.clients:
            client.close()


def test_the_sweep_finds_decided_parked_runs_and_lapsed_resumes(
    mm_sandbox: Sandbox, stores: Stores
) -> None:
    made = fleet(mm_sandbox, stores, parking=True)
    try:
        work = made.work
        checkpoints: list[str] = []
        for number, thread in ((1, "thr_p"), (2, "thr_q")):
            work.admit(email(number, thread=thread))
            parked = work.route_inbound(thread)
            assert [o.status for o in parked.outcomes] == ["parked"]
            checkpoint = parked.outcomes[0].checkpoint_id
            assert checkpoint is not None
            checkpoints.append(checkpoint)
        assert work.sweep().checkpoints == []  # nobody decided yet
        assert work.route_inbound("thr_p").action == "busy"  # parked: no run beside it
        lapsing = checkpoints[1]
        for record in stores.pending.all():  # an operator decides; the fleet hears of it
            held = mm_sandbox.multimail.decide(record.email_id, "approve")
            assert held["status"] != "pending_send_approval"
            seen = mm_sandbox.multimail.email(record.email_id)
            assert seen is not None
            stores.decisions.record(record.email_id, seen, rank=decision_rank(seen))
        assert sorted(work.sweep().checkpoints) == sorted(checkpoints)
        # a worker resumes thr_q's run and dies holding its route and checkpoint claims
        assert stores.routes.unpark("thr_q", lapsing) is not None
        assert stores.checkpoints.claim(lapsing, until=time.time() + LEASE) is not None
        before = len(made.requests.bodies)
        assert work.resume_run(lapsing).action in ("busy", "not_parked")  # no run beside it
        assert len(made.requests.bodies) == before
        time.sleep(LAPSE)
        assert lapsing in stores.checkpoints.lapsed()
        plan = work.sweep()
        assert sorted(plan.checkpoints) == sorted(checkpoints)  # each once
        assert plan.threads == []
        for checkpoint in plan.checkpoints:
            resumed = work.resume_run(checkpoint)
            assert resumed.action == "resumed"
            assert [o.status for o in resumed.outcomes] == ["completed"]
        assert len(work.sweep()) == 0
        assert all(work.resume_run(c).action == "not_parked" for c in checkpoints)
        assert (made.requests.posted(1), made.requests.posted(2)) == (1, 1)
    finally:
        for client in made.clients:
            client.close()


def test_an_explicit_request_runs_once_per_key(
    mm_sandbox: Sandbox, stores: Stores, worker: Fleet
) -> None:
    work = worker.work
    key = work.request_run("report-2026-11", "Write the monthly report.")
    assert key == "request:report-2026-11"
    assert work.request_run("report-2026-11", "Write the monthly report.") == key
    assert stores.routes.token(key) is None
    started = work.start_run(key)
    assert started.action == "started"
    assert [o.status for o in started.outcomes] == ["completed"]
    assert work.start_run(key).action == "ignored"
    assert work.request_run("report-2026-11", "again") == key  # a repeat queues nothing
    assert work.start_run(key).action == "ignored"
    assert replies(mm_sandbox) == 1
    on_thread = work.request_run("k2", "Follow up.", thread="thr_r")
    assert on_thread == "thr_r"
    assert work.route_inbound("thr_r").action == "started"
    assert replies(mm_sandbox) == 2
