"""Review 16's work/driver/store findings, each as a user would notice it: no reply sent
twice, no message lost, no run retried forever (real FleetWork on the sandbox, SQLite
stores shared through a file; the poisoned dispatch kills a real process)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import Dispatcher
from mm_assistants.drivers import ResponsesDriver, parking
from mm_assistants.inbound import FleetWork, InboundRouter
from mm_assistants.inbound.work import SweepPlan
from mm_assistants.multimail import MultiMailClient, RetryPolicy
from mm_assistants.sandbox import Sandbox
from mm_assistants.state import (
    MemoryCheckpointStore,
    MemoryDecisionStore,
    MemoryPendingStore,
    MemoryRouteStore,
    RouteStore,
    SQLiteCheckpointStore,
    SQLitePendingStore,
    SQLiteRouteStore,
    backoff,
)
from tests.inbound.fleet_fakes import email
from tests.inbound.test_work_reattach import (  # noqa: F401 -- mm_sandbox_options is a fixture
    LEASE,
    MODEL,
    PARKING,
    ROOT,
    mm_sandbox_options,
)

#: A park that comes late: the heartbeat renews at least once before it.
PARK_LATER = ApprovalPolicy(
    max_wait=10, margin=1, first_delay=0.05, max_interval=0.1, park_after=0.8
)


class SoftTimeLimitExceeded(Exception):
    """Stands in for Celery's soft time limit, raised wherever the task happens to be."""


@dataclass
class Fleet:
    work: FleetWork
    routes: SQLiteRouteStore
    checkpoints: SQLiteCheckpointStore
    closing: list[Any] = field(default_factory=list)


def fleet(
    sandbox: Sandbox,
    path: str,
    *,
    routes: SQLiteRouteStore | None = None,
    on_response: Callable[[httpx.Response], None] | None = None,
    approvals: ApprovalPolicy = PARKING,
    allowed: list[str] | None = None,
) -> Fleet:
    """A worker's FleetWork on the SQLite stores in ``path``; ``on_response`` sees every
    MultiMail answer (to stop the task right after a send)."""
    routes = routes if routes is not None else SQLiteRouteStore(path, lease=LEASE)
    checkpoints, pending = SQLiteCheckpointStore(path), SQLitePendingStore(path)
    http = httpx.Client(event_hooks={"response": [on_response] if on_response else []})
    client = openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0)
    multimail = MultiMailClient(
        api_key=sandbox.keys["send"], base_url=sandbox.multimail_url,
        retry=RetryPolicy(max_attempts=1), http_client=http,
    )  # fmt: skip
    dispatcher = Dispatcher(
        multimail, mailbox_id=sandbox.mailbox_id, audit=None, approval_store=pending,
        allowed_mailboxes=allowed,
    )  # fmt: skip
    driver = ResponsesDriver(
        client, dispatcher, approvals=approvals, checkpoints=checkpoints,
        checkpoint_lease=LEASE / 2,
    )  # fmt: skip
    router = InboundRouter(client, dispatcher, model=MODEL, driver=driver, store=routes)
    work = FleetWork(
        router, pending=pending, checkpoints=checkpoints, decisions=MemoryDecisionStore()
    )
    return Fleet(work, routes, checkpoints, [client, multimail, http, routes, checkpoints, pending])


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # these tests count attempts and re-attaches, one right after another; the wait between
    # them (state.backoff) is tests/inbound/test_work_backoff.py's subject
    monkeypatch.setattr(backoff, "BACKOFF_BASE", 0.0)


@pytest.fixture
def closing() -> Iterator[list[Fleet]]:
    made: list[Fleet] = []
    yield made
    for each in made:
        for thing in each.closing:
            thing.close()


def run_plan(work: FleetWork, plan: SweepPlan) -> list[str]:
    """What a beat does with a sweep: each key to its task (here, in this process)."""
    said = [f"resume {work.resume_run(c).action}" for c in plan.checkpoints]
    return said + [f"route {work.route_inbound(t).action}" for t in plan.threads]


def stop_after_the_first_send() -> Callable[[httpx.Response], None]:
    armed = {"on": True}

    def hook(response: httpx.Response) -> None:
        request = response.request
        if armed["on"] and request.method == "POST" and request.url.path.endswith("/send"):
            armed["on"] = False
            raise SoftTimeLimitExceeded

    return hook


def sends(sandbox: Sandbox) -> int:
    return len(sandbox.multimail.pending())


# -- H1: an exception after a send (a soft time limit, an OpenAI 5xx) --------------------


def test_an_exception_after_a_send_re_attaches_the_run_and_sends_once(
    mm_sandbox: Sandbox, tmp_path: Path, closing: list[Fleet]
) -> None:
    made = fleet(mm_sandbox, str(tmp_path / "s.db"), on_response=stop_after_the_first_send())
    closing.append(made)
    work = made.work
    assert work.admit(email(1, thread="thr_s")).mm_thread == "thr_s"
    with pytest.raises(SoftTimeLimitExceeded):
        work.route_inbound("thr_s")
    assert sends(mm_sandbox) == 1
    [checkpoint] = made.checkpoints.lapsed()  # listed at once: nothing waits a lease
    assert made.routes.parked("thr_s") == checkpoint  # the mail is in the run, not re-queued
    assert made.routes.stalled() == []
    plan = work.sweep()
    assert plan.checkpoints == [checkpoint]
    assert run_plan(work, plan) == ["resume parked"]  # re-attached: the same send, held
    assert sends(mm_sandbox) == 1  # not a second reply
    assert made.checkpoints.lapsed() == []


def test_a_re_attach_that_raises_is_listed_again_and_later_mail_runs(
    mm_sandbox: Sandbox, tmp_path: Path, closing: list[Fleet]
) -> None:
    # M1: a worker dies mid-dispatch, the task that re-attaches is itself stopped
    path = str(tmp_path / "k.db")
    made = fleet(mm_sandbox, path, on_response=stop_after_the_first_send())
    closing.append(made)
    work = made.work
    assert work.admit(email(1, thread="thr_k")).mm_thread == "thr_k"
    dying = subprocess.run(
        [sys.executable, "-m", "tests.inbound.dying_worker", path, "thr_k"],
        cwd=ROOT, env={**os.environ, **mm_sandbox.environment()}, capture_output=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert dying.returncode == -9, dying.stderr.decode()[-2000:]
    time.sleep(LEASE + 0.3)
    with pytest.raises(SoftTimeLimitExceeded):
        work.route_inbound("thr_k")  # re-attached, and stopped right after the send again
    work.admit(email(2, thread="thr_k"))
    plan = work.sweep()
    assert len(plan.checkpoints) == 1  # not stuck: the run is listed at once
    assert run_plan(work, plan) == ["resume parked"]
    assert sends(mm_sandbox) == 1  # one reply, held, for all those attempts


# -- H2: one failed renewal of the thread's claim -------------------------------------------


class BlipRoutes(SQLiteRouteStore):
    """The heartbeat thread's first renewal meets one transient database error."""

    calls = 0

    def heartbeat(self, mm_thread: str, token: int) -> bool:
        self.calls += 1
        if self.calls == 2:
            raise OSError("connection reset")
        return super().heartbeat(mm_thread, token)


def test_one_failed_renewal_keeps_the_park_and_sends_one_reply(
    mm_sandbox: Sandbox, tmp_path: Path, closing: list[Fleet]
) -> None:
    path = str(tmp_path / "b.db")
    routes = BlipRoutes(path, lease=LEASE)
    made = fleet(mm_sandbox, path, routes=routes, approvals=PARK_LATER)
    closing.append(made)
    work = made.work
    assert work.admit(email(1, thread="thr_b")).mm_thread == "thr_b"
    first = work.route_inbound("thr_b")
    assert [o.status for o in first.outcomes] == ["parked"]
    assert routes.calls >= 2  # the blip happened during the run
    assert routes.parked("thr_b") is not None  # the park was written all the same
    time.sleep(LEASE + 0.2)
    assert work.sweep().threads == []  # nothing to recover: the mail is in the parked run
    second = work.route_inbound("thr_b")
    assert (second.action, second.reason) == ("busy", "parked for a decision")
    assert sends(mm_sandbox) == 1


# -- H5: a run that raises every time ----------------------------------------------------


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
def test_a_run_that_raises_every_time_ends_failed_and_others_are_swept(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    routes: RouteStore
    if backend == "memory":
        routes = MemoryRouteStore(lease=1.0)
    elif backend == "sqlite":
        routes = SQLiteRouteStore(tmp_path / "r.db", lease=1.0)
    else:
        from mm_assistants.state.postgres import PostgresRouteStore

        routes = PostgresRouteStore(request.getfixturevalue("pg_dsn"), lease=1.0)
    # OpenAI refuses every connection on loopback: each run raises before any tool call
    client = openai.OpenAI(api_key="sk-x", base_url="http://127.0.0.1:9/v1", max_retries=0)
    dispatcher = Dispatcher(
        MultiMailClient(api_key="mm_live_x", base_url="http://127.0.0.1:9"),
        mailbox_id="mb_1",
        audit=None,
    )
    router = InboundRouter(client, dispatcher, model="m", store=routes)
    work = FleetWork(
        router,
        pending=MemoryPendingStore(),
        checkpoints=MemoryCheckpointStore(),
        decisions=MemoryDecisionStore(),
        max_attempts=3,
    )
    try:
        work.admit(email(1, thread="thr_poison"))
        work.admit(email(2, thread="thr_ok"))
        assert work.sweep(limit=1).threads == ["thr_poison"]
        with pytest.raises(openai.APIConnectionError):
            work.route_inbound("thr_poison")
        assert work.sweep(limit=1).threads == ["thr_ok"]  # the released thread went last
        for _ in range(2):
            with pytest.raises(openai.APIConnectionError):
                work.route_inbound("thr_poison")
        ended = work.route_inbound("thr_poison")  # no fourth model call
        assert (ended.action, ended.reason) == ("failed", "3 workers were lost on it")
        [failed] = routes.failed()
        assert (failed.mm_thread, [m.email_id for m in failed.messages]) == (
            "thr_poison",
            [email(1, thread="thr_poison").email_id],
        )
        assert work.sweep().threads == ["thr_ok"]
    finally:
        client.close()
        close = getattr(routes, "close", None)
        if close is not None:
            close()


# -- H3: a dispatch that kills its worker every time -------------------------------------


def test_a_dispatch_that_kills_its_worker_every_time_ends_failed(
    mm_sandbox: Sandbox, tmp_path: Path, closing: list[Fleet]
) -> None:
    path = str(tmp_path / "p.db")
    made = fleet(mm_sandbox, path)
    closing.append(made)
    work = made.work
    assert work.admit(email(1, thread="thr_p")).mm_thread == "thr_p"
    deaths = 0
    for _ in range(6):
        plan = work.sweep()
        if not plan:
            break
        dying = subprocess.run(
            [sys.executable, "-m", "tests.inbound.dying_worker", path, "thr_p"],
            cwd=ROOT, env={**os.environ, **mm_sandbox.environment()}, capture_output=True,
            timeout=60, check=False,
        )  # fmt: skip
        deaths += dying.returncode == -9
        time.sleep(LEASE + 0.3)
    assert deaths == 3  # work.max_attempts: then it ends, never handed to a fourth worker
    [failed] = made.routes.failed()
    assert failed.mm_thread == "thr_p"
    assert "3 claims on its run were lost" in failed.reason
    assert made.checkpoints.lapsed() == []
    assert made.routes.parked("thr_p") is None
    assert work.sweep() == SweepPlan()
    assert sends(mm_sandbox) == 1  # and each attempt re-sent the same send, never a second


# -- M2 / M3: parks nothing will ever resume as they are ---------------------------------


def test_a_checkpoint_this_release_cannot_resume_is_ended_and_frees_its_thread(
    mm_sandbox: Sandbox, tmp_path: Path, closing: list[Fleet]
) -> None:
    path = str(tmp_path / "m2.db")
    before = fleet(mm_sandbox, path)
    closing.append(before)
    assert before.work.admit(email(1, thread="thr_m")).mm_thread == "thr_m"
    parked = before.work.route_inbound("thr_m")
    [checkpoint] = [o.checkpoint_id for o in parked.outcomes]
    assert checkpoint is not None
    # a deploy widens the mailbox scope: this release cannot resume the old checkpoint
    after = fleet(mm_sandbox, path, allowed=[mm_sandbox.mailbox_id, "mb_other"])
    closing.append(after)
    ended = after.work.resume_run(checkpoint)
    assert ended.action == "gone"
    assert [o.status for o in ended.outcomes] == ["failed"]
    [failed] = after.routes.failed()
    assert failed.mm_thread == "thr_m"
    assert "cannot resume its checkpoint" in failed.reason
    assert after.routes.parked("thr_m") is None  # new mail on the thread runs again
    assert after.checkpoints.get(checkpoint) is None
    [record] = SQLitePendingStore(path).all()
    assert record.checkpoint_id is None  # its decision takes the late-decision path
    assert after.work.sweep() == SweepPlan()  # not listed, and failing, at every beat
    assert after.work.admit(email(2, thread="thr_m")).mm_thread == "thr_m"
    assert after.work.route_inbound("thr_m").action == "started"


def test_a_park_nobody_decides_falls_back_through_the_sweep_and_frees_its_thread(
    mm_sandbox: Sandbox, tmp_path: Path, closing: list[Fleet], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parking, "MAX_PARK_SECONDS", 0.5)  # OpenAI's 25 days, shortened
    made = fleet(mm_sandbox, str(tmp_path / "m3.db"))
    closing.append(made)
    work = made.work
    assert work.admit(email(1, thread="thr_u")).mm_thread == "thr_u"
    parked = work.route_inbound("thr_u")
    [checkpoint] = [o.checkpoint_id for o in parked.outcomes]
    assert work.admit(email(2, thread="thr_u")).mm_thread == "thr_u"  # queued behind it
    assert work.sweep() == SweepPlan()  # undecided, not yet too old
    time.sleep(0.7)
    plan = work.sweep()
    assert plan.checkpoints == [checkpoint]
    [resumed] = [work.resume_run(c) for c in plan.checkpoints]
    assert resumed.action == "resumed"
    assert [o.status for o in resumed.outcomes] == ["expired", "parked"]  # then the new mail
    assert made.routes.parked("thr_u") != checkpoint  # the thread is free of it
    assert made.checkpoints.get(checkpoint) is None


def test_a_plain_routers_drain_re_attaches_a_run_stopped_after_its_send(
    mm_sandbox: Sandbox, tmp_path: Path, closing: list[Fleet]
) -> None:
    # without a fleet sweep, drain is what picks up after a failure: it resumes the run
    made = fleet(mm_sandbox, str(tmp_path / "d.db"), on_response=stop_after_the_first_send())
    closing.append(made)
    router = made.work.router
    with pytest.raises(SoftTimeLimitExceeded):
        router.route(email(1, thread="thr_d"))
    assert made.routes.parked("thr_d") is not None
    assert router.drain() == 1
    assert made.checkpoints.lapsed() == []
    assert sends(mm_sandbox) == 1
