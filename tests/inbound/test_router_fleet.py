"""The inbound router across a fleet (issue 15): a thread's claim carries a fencing token
renewed by a heartbeat, a worker that stalled past its lease leaves the thread to whoever
took it over, a parked Responses run keeps its thread's claim while mail queues behind it,
and `resume` sends that mail after the function-call outputs. Memory, SQLite and PostgreSQL
stores; two routers on one store stand for two workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.inbound import InboundRouter
from mm_assistants.state import InboundMessage, PendingRecord, RouteStore
from tests.inbound.fleet_fakes import (
    BACKENDS,
    Dispatcher,
    Driver,
    email,
    mentions,
    outcome,
    stores_of,
    waits,
)

LEASE = 0.3


@pytest.fixture(params=[*BACKENDS, "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from stores_of(request, tmp_path, LEASE)


def worker(store: Any, driver: Driver | None = None) -> InboundRouter:
    return InboundRouter(
        None, Dispatcher(), model="gpt-test", driver=driver or Driver(), store=store
    )


class Recording:
    """A route store that records the fenced calls a router makes."""

    def __init__(self, inner: RouteStore) -> None:
        self.inner = inner
        self.lease = getattr(inner, "lease", LEASE)
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def heartbeat(self, mm_thread: str, token: int) -> bool:
        self.calls.append(("heartbeat", token))
        return self.inner.heartbeat(mm_thread, token)

    def finish(self, mm_thread: str, *, token: int | None = None) -> list[InboundMessage]:
        self.calls.append(("finish", token))
        return self.inner.finish(mm_thread, token=token)


class Frozen(Recording):
    """A worker whose renewals do not reach the store while ``frozen`` (a stalled process)."""

    def __init__(self, inner: RouteStore) -> None:
        super().__init__(inner)
        self.frozen = True

    def heartbeat(self, mm_thread: str, token: int) -> bool:
        if self.frozen:
            return True  # the renewal never left the paused process
        return super().heartbeat(mm_thread, token)


def test_a_run_longer_than_the_lease_keeps_its_claim_by_its_heartbeat(store: Any) -> None:
    recording = Recording(store)
    gate, started = threading.Event(), threading.Event()
    driver = Driver()
    driver.run_script.append(waits(gate, outcome("completed", "resp_a"), started))
    router = worker(recording, driver)
    other = worker(store)  # another worker on the same store
    result: list[Any] = []
    runner = threading.Thread(target=lambda: result.append(router.route(email(1))))
    runner.start()
    try:
        assert started.wait(10)
        token = store.token("thr_1")
        time.sleep(LEASE * 2.5)  # well past one lease: only the heartbeat keeps the claim
        assert store.token("thr_1") == token
        assert store.stalled() == []
        assert other.route(email(2)).action == "queued"  # not a second run on the thread
        assert other.drain() == 0
    finally:
        gate.set()
        runner.join(10)
    assert [r.action for r in result] == ["started"]
    assert len(driver.runs) == 2  # the queued mail ran after, on the same worker
    assert mentions(driver.runs[1][0], 2)
    assert other.driver.runs == []
    beats = [value for name, value in recording.calls if name == "heartbeat"]
    assert len(beats) >= 2
    assert set(beats) == {token}
    assert ("finish", token) in recording.calls
    assert store.token("thr_1") is None  # finished: the claim is dropped


def test_a_worker_that_stalled_past_its_lease_leaves_the_thread_to_its_new_owner(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    frozen = Frozen(store)
    gate, started = threading.Event(), threading.Event()
    slow_driver = Driver()
    slow_driver.run_script.append(waits(gate, outcome("completed", "resp_stale"), started))
    stale = worker(frozen, slow_driver)
    fresh = worker(store)
    runner = threading.Thread(target=stale.route, args=(email(1),))
    runner.start()
    try:
        assert started.wait(10)
        assert fresh.route(email(2)).action == "queued"
        deadline = time.monotonic() + 10
        while store.stalled() != ["thr_1"] and time.monotonic() < deadline:
            time.sleep(0.02)  # the stalled worker's lease lapses
        assert fresh.drain() == 1  # the new owner runs the queued mail
        assert fresh.route(email(3)).action == "started"
    finally:
        frozen.frozen = False
        gate.set()
        runner.join(10)
    assert not runner.is_alive()
    assert len(slow_driver.runs) == 1  # it ran its own email and took nothing after
    ran = [items for items, _ in fresh.driver.runs]
    assert [mentions(items, 2) for items in ran] == [True, False]
    assert mentions(ran[1], 3)
    assert store.target("thr_1") == "resp_run_2"  # the stale run's end is not the target
    assert ("finish", None) not in frozen.calls
    assert not any(name == "finish" for name, _ in frozen.calls)
    lost = [r.getMessage() for r in caplog.records if "claim was lost" in r.getMessage()]
    assert lost
    assert all("thr_1" in line and "em_" not in line for line in lost)


def parked_thread(store: Any) -> tuple[InboundRouter, Driver]:
    """A worker whose first run on thr_1 parked as ckpt_1."""
    driver = Driver()
    driver.run_script.append(lambda: outcome("parked", "resp_held", checkpoint="ckpt_1"))
    router = worker(store, driver)
    result = router.route(email(1))
    assert result.action == "started"
    assert [o.status for o in result.outcomes] == ["parked"]
    return router, driver


def test_a_parked_run_keeps_its_thread_and_queues_its_mail(store: Any) -> None:
    router, driver = parked_thread(store)
    assert driver.runs[0][1]["checkpoint_meta"] == {"mm_thread": "thr_1"}
    assert store.parked("thr_1") == "ckpt_1"
    assert store.target("thr_1") is None  # the held response is no place to continue from
    time.sleep(LEASE * 1.5)  # a parked claim has no lease
    other = worker(store)
    assert other.route(email(2)).action == "queued"
    assert other.route(email(3)).action == "queued"
    assert store.stalled() == []
    assert other.drain() == 0
    assert router.drain() == 0
    assert len(driver.runs) == 1
    assert other.driver.runs == []
    assert store.parked("thr_1") == "ckpt_1"


def test_resume_sends_the_queued_mail_after_the_outputs_then_finishes(store: Any) -> None:
    _, _ = parked_thread(store)
    other = worker(store)
    other.route(email(2))
    other.route(email(3))
    resumer = worker(store)  # any worker resumes
    resumer.driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    result = resumer.resume("thr_1")
    assert (result.action, result.mm_thread_id, result.checkpoint_id) == (
        "resumed",
        "thr_1",
        "ckpt_1",
    )
    [(checkpoint, follow_with)] = resumer.driver.resumes
    assert checkpoint == "ckpt_1"
    assert [mentions([item], 2) for item in follow_with] == [True, False]
    assert mentions([follow_with[1]], 3)
    assert all(item["role"] == "user" for item in follow_with)
    assert [o.status for o in result.outcomes] == ["completed"]
    assert store.parked("thr_1") is None
    assert store.token("thr_1") is None
    assert store.target("thr_1") == "resp_done"
    assert resumer.resume("thr_1").action == "not_parked"  # once
    after = worker(store)
    assert after.route(email(4)).action == "started"
    [(items, options)] = after.driver.runs
    assert mentions(items, 4)
    assert options["previous_response_id"] == "resp_done"


def test_a_resume_by_checkpoint_id_finds_its_thread(store: Any) -> None:
    _, _driver = parked_thread(store)
    resumer = worker(store)
    resumer.driver.parking.add("ckpt_1", {"mm_thread": "thr_1"})
    resumer.driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    assert resumer.resume("ckpt_1").action == "resumed"
    assert store.target("thr_1") == "resp_done"
    assert resumer.resume("ckpt_unknown").action == "not_parked"


def test_mail_that_arrives_during_the_resume_runs_after_it(store: Any) -> None:
    parked_thread(store)
    resumer = worker(store)
    other = worker(store)

    def resumed() -> Any:
        assert other.route(email(5)).action == "queued"  # behind the live resume
        return outcome("completed", "resp_done")

    resumer.driver.resume_script.append(resumed)
    result = resumer.resume("thr_1")
    assert [o.status for o in result.outcomes] == ["completed", "completed"]
    [(items, options)] = resumer.driver.runs
    assert mentions(items, 5)
    assert options["previous_response_id"] == "resp_done"


def test_a_resume_that_parks_again_keeps_the_thread_parked(store: Any) -> None:
    parked_thread(store)
    resumer = worker(store)
    resumer.driver.resume_script.append(lambda: outcome("parked", "resp_2", checkpoint="ckpt_2"))
    assert resumer.resume("thr_1").action == "resumed"
    assert store.parked("thr_1") == "ckpt_2"
    assert worker(store).route(email(2)).action == "queued"


def test_a_busy_resume_keeps_the_thread_parked_and_its_mail(store: Any) -> None:
    parked_thread(store)
    worker(store).route(email(2))
    resumer = worker(store)
    resumer.driver.resume_script.append(lambda: outcome("busy"))
    result = resumer.resume("thr_1")
    assert result.action == "busy"
    assert result.outcomes == ()
    assert store.parked("thr_1") == "ckpt_1"
    assert store.stalled() == []
    assert resumer.drain() == 0
    resumer.driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    assert resumer.resume("thr_1").action == "resumed"
    follow_withs = [follow for _, follow in resumer.driver.resumes]
    assert [len(f) for f in follow_withs] == [1, 1]
    assert mentions(follow_withs[1], 2)


def test_a_gone_resume_starts_the_queued_mail_as_a_new_run(store: Any) -> None:
    parked_thread(store)
    worker(store).route(email(2))
    resumer = worker(store)
    resumer.driver.resume_script.append(lambda: outcome("gone"))
    result = resumer.resume("thr_1")
    assert result.action == "gone"
    [(items, _)] = resumer.driver.runs
    assert mentions(items, 2)
    assert [o.status for o in result.outcomes] == ["completed"]
    assert store.parked("thr_1") is None
    assert store.token("thr_1") is None


def test_a_resume_that_raises_gives_the_mail_back_and_can_be_resumed_again(store: Any) -> None:
    parked_thread(store)
    worker(store).route(email(2))
    resumer = worker(store)

    def crash() -> Any:
        raise RuntimeError("the resumer died")

    resumer.driver.resume_script.append(crash)
    with pytest.raises(RuntimeError):
        resumer.resume("thr_1")
    again = worker(store)
    again.driver.parking.add("ckpt_1", {"mm_thread": "thr_1"})
    again.driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    assert again.resume("ckpt_1").action == "resumed"
    [(_, follow_with)] = again.driver.resumes
    assert mentions(follow_with, 2)
    assert store.target("thr_1") == "resp_done"


def test_a_resumer_that_died_is_replaced_once_its_claim_lapses(store: Any) -> None:
    parked_thread(store)
    taken = store.unpark("thr_1", "ckpt_1")  # a worker took the resume, then died
    assert taken is not None
    again = worker(store)
    again.driver.parking.add("ckpt_1", {"mm_thread": "thr_1"})
    assert again.resume("ckpt_1").action == "not_parked"  # its claim is alive
    assert again.driver.resumes == []
    time.sleep(LEASE * 1.5)
    again.driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    assert again.resume("ckpt_1").action == "resumed"
    assert store.target("thr_1") == "resp_done"


def test_a_resume_still_waiting_for_a_decision_keeps_the_thread_parked_and_its_mail(
    store: Any,
) -> None:
    parked_thread(store)
    worker(store).route(email(2))
    resumer = worker(store)
    resumer.driver.resume_script.append(lambda: outcome("parked", "resp_held", checkpoint="ckpt_1"))
    assert resumer.resume("thr_1").action == "parked"
    assert store.parked("thr_1") == "ckpt_1"
    assert resumer.drain() == 0
    resumer.driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    assert resumer.resume("thr_1").action == "resumed"
    assert [mentions(follow, 2) for _, follow in resumer.driver.resumes] == [True, True]


def test_a_resume_that_fell_back_runs_the_mail_it_was_given(store: Any) -> None:
    parked_thread(store)
    worker(store).route(email(2))
    resumer = worker(store)

    def fell_back() -> Any:
        ended = outcome("expired", checkpoint="ckpt_1")
        ended.incomplete_reason = "park_expired"
        return ended

    resumer.driver.resume_script.append(fell_back)
    result = resumer.resume("thr_1")
    assert result.action == "resumed"
    assert [o.status for o in result.outcomes] == ["expired", "completed"]
    [(items, _)] = resumer.driver.runs
    assert mentions(items, 2)
    assert store.token("thr_1") is None


def test_resume_for_email_finds_the_run_its_decision_unblocks(store: Any) -> None:
    driver = Driver()
    driver.run_script.append(lambda: outcome("parked", "resp_held", checkpoint="park_resp_held"))
    router = worker(store, driver)
    router.route(email(1))
    router.dispatcher.approval_store.add(
        PendingRecord(
            email_id="em_out",
            mailbox_id="mbx_1",
            call_id="call_1",
            tool="send_email",
            response_id="resp_held",
        )
    )
    driver.parking.add("park_resp_held", {"mm_thread": "thr_1"})
    driver.resume_script.append(lambda: outcome("completed", "resp_done"))
    assert router.resume_for_email("em_unknown").action == "not_parked"
    result = router.resume_for_email("em_out")
    assert (result.action, result.mm_thread_id) == ("resumed", "thr_1")
    assert driver.resumes[0][0] == "park_resp_held"


@pytest.mark.parametrize(
    "meta",
    [
        pytest.param({}, id="no-thread"),
        pytest.param({"mm_thread": 7}, id="not-text"),
        pytest.param({"mm_thread": ""}, id="empty"),
        pytest.param({"mm_thread": "t" * 10_000}, id="huge"),
        pytest.param({"mm_thread": "thr_other"}, id="a-thread-parked-elsewhere"),
    ],
)
def test_a_checkpoint_naming_no_parked_thread_resumes_nothing(store: Any, meta: Any) -> None:
    parked_thread(store)
    resumer = worker(store)
    resumer.driver.parking.add("ckpt_x", meta)
    other = worker(store)
    other.driver.run_script.append(lambda: outcome("parked", "resp_o", checkpoint="ckpt_o"))
    other.route(email(9, thread="thr_other"))  # parked as another checkpoint
    result = resumer.resume("ckpt_x")
    assert result.action == "not_parked"
    assert resumer.driver.resumes == []
    assert store.parked("thr_1") == "ckpt_1"
    assert store.parked("thr_other") == "ckpt_o"
