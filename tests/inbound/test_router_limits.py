"""The inbound routers under a flood (issue 11, item 12): per-sender and per-thread rate
limits and the bound on background runs; what they turn away is held and tagged for a
person, never dropped. Fakes stand in for OpenAI and MultiMail (Responses mode: no threads
to create)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from mm_assistants.dispatch import ToolCall, ToolResult
from mm_assistants.drivers import RunOutcome
from mm_assistants.inbound import AsyncInboundRouter, InboundLimits, InboundRouter, RateLimit
from mm_assistants.webhooks import MessageEvent, parse_event

PASSING = {"spam_verdict": "clean", "dkim": "pass", "spf": "pass", "dmarc": "pass"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Tagger:
    """A dispatcher that records the tag calls of held emails."""

    mailbox_id = "mbx_1"

    def __init__(self) -> None:
        self.tags: dict[str, dict[str, str]] = {}

    def dispatch(self, call: ToolCall) -> ToolResult:
        arguments = json.loads(call.arguments)
        self.tags[arguments["email_id"]] = {t["key"]: t["value"] for t in arguments["tags"]}
        return ToolResult(call.id, call.name, "{}", ok=True)

    def fetch_email(self, email_id: str, mailbox_id: str) -> dict[str, Any]:
        raise AssertionError("the events carry every verdict: no look-up expected")


class AsyncTagger(Tagger):
    async def dispatch(self, call: ToolCall) -> ToolResult:  # type: ignore[override]
        return Tagger.dispatch(self, call)


class Driver:
    """A Responses driver whose runs end at once, or wait for ``gate`` when given."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.runs = 0

    def run(self, messages: Any, **options: Any) -> RunOutcome:
        self.runs += 1
        if self.gate is not None:
            assert self.gate.wait(10)
        return RunOutcome("completed", run_id=f"resp_{self.runs}")


class AsyncDriver:
    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.gate = gate
        self.runs = 0

    async def run(self, messages: Any, **options: Any) -> RunOutcome:
        self.runs += 1
        if self.gate is not None:
            await asyncio.wait_for(self.gate.wait(), 10)
        return RunOutcome("completed", run_id=f"resp_{self.runs}")


def email(number: int, *, sender: str = "flood@example.com", thread: str | None = None) -> Any:
    event = parse_event(
        {
            "id": f"evt_{number}",
            "event": "message.received",
            "data": {
                "email_id": f"em_{number}",
                "thread_id": thread or f"thr_{number}",
                "from": sender,
                "direction": "inbound",
                **PASSING,
            },
        }
    )
    assert isinstance(event, MessageEvent)
    return event


def test_a_flood_from_one_sender_starts_only_the_limit_and_tags_the_rest() -> None:
    clock, tagger, driver = Clock(), Tagger(), Driver()
    router = InboundRouter(
        None,
        tagger,
        model="gpt-test",
        driver=driver,
        limits=InboundLimits(per_sender=RateLimit(3, 3600.0)),
        clock=clock,
    )
    actions = [router.route(email(n)).action for n in range(10)]
    assert actions == ["started"] * 3 + ["held"] * 7
    assert driver.runs == 3
    assert sorted(tagger.tags) == sorted(f"em_{n}" for n in range(3, 10))
    tags = tagger.tags["em_9"]
    assert tags["needs-human"] == "true"
    assert tags["needs-human-reason"] == "more mail from one sender than its limit (3 per 3600 s)"
    assert router.route(email(11, sender="someone@else.example")).action == "started"
    clock.now = 1200.0  # one token back
    assert router.route(email(12)).action == "started"
    assert router.route(email(13)).action == "held"


def test_the_default_limits_stop_a_flood_too() -> None:
    tagger, driver = Tagger(), Driver()
    router = InboundRouter(None, tagger, model="gpt-test", driver=driver, clock=Clock())
    assert router.limits == InboundLimits()
    burst = InboundLimits().per_sender.burst  # type: ignore[union-attr]
    results = [router.route(email(n)) for n in range(burst + 5)]
    assert [r.action for r in results].count("started") == burst
    assert len(tagger.tags) == 5


def test_a_flood_into_one_thread_is_limited_per_thread() -> None:
    tagger, driver = Tagger(), Driver()
    router = InboundRouter(
        None,
        tagger,
        model="gpt-test",
        driver=driver,
        limits=InboundLimits(per_thread=RateLimit(2, 3600.0)),
        clock=Clock(),
    )
    senders = [f"s{n}@example.com" for n in range(5)]
    actions = [
        router.route(email(n, sender=s, thread="thr_x")).action for n, s in enumerate(senders)
    ]
    assert actions == ["started", "started", "held", "held", "held"]
    assert "thread" in tagger.tags["em_4"]["needs-human-reason"]


def test_a_held_email_is_a_duplicate_when_redelivered() -> None:
    tagger = Tagger()
    router = InboundRouter(
        None,
        tagger,
        model="gpt-test",
        driver=Driver(),
        limits=InboundLimits(per_sender=RateLimit(1, 3600.0)),
        clock=Clock(),
    )
    assert [router.route(email(n)).action for n in (1, 2)] == ["started", "held"]
    assert router.route(email(2)).action == "duplicate"  # tagged once, not run later


def test_the_background_queue_is_bounded_and_the_overflow_held() -> None:
    gate, tagger = threading.Event(), Tagger()
    driver = Driver(gate)
    with InboundRouter(
        None,
        tagger,
        model="gpt-test",
        driver=driver,
        background=True,
        max_workers=1,
        limits=InboundLimits(max_pending=2),
    ) as router:
        results = [router.route(email(n, sender=f"s{n}@example.com")) for n in range(5)]
        assert [r.action for r in results] == ["started", "started", "held", "held", "held"]
        assert tagger.tags["em_2"]["needs-human-reason"] == (
            "the inbound queue is full (2 runs waiting or running)"
        )
        gate.set()
        assert router.join(10)
        assert router.route(email(9, sender="late@example.com")).action == "started"
    assert driver.runs == 3


async def test_the_async_router_bounds_its_background_tasks() -> None:
    gate, tagger = asyncio.Event(), AsyncTagger()
    driver = AsyncDriver(gate)
    async with AsyncInboundRouter(
        None,
        tagger,
        model="gpt-test",
        driver=driver,
        background=True,
        limits=InboundLimits(max_pending=2),
    ) as router:
        queued = [await router.route(email(n, sender=f"s{n}@example.com")) for n in range(4)]
        assert [r.action for r in queued] == ["started", "started", "held", "held"]
        assert "queue is full" in tagger.tags["em_3"]["needs-human-reason"]
        gate.set()
        await router.join()
        assert (await router.route(email(9, sender="late@example.com"))).action == "started"
    assert driver.runs == 3


async def test_the_async_router_limits_a_flood_from_one_sender() -> None:
    tagger, driver = AsyncTagger(), AsyncDriver()
    router = AsyncInboundRouter(
        None,
        tagger,
        model="gpt-test",
        driver=driver,
        limits=InboundLimits(per_sender=RateLimit(3, 3600.0)),
        clock=Clock(),
    )
    flood = [(await router.route(email(n))).action for n in range(8)]
    assert flood == ["started"] * 3 + ["held"] * 5
    assert driver.runs == 3
    assert sorted(tagger.tags) == sorted(f"em_{n}" for n in range(3, 8))


@pytest.mark.parametrize("background", [False, True])
def test_mail_within_the_limits_runs_as_before(background: bool) -> None:
    driver = Driver()
    with InboundRouter(
        None, Tagger(), model="gpt-test", driver=driver, background=background
    ) as router:
        assert router.route(email(1)).action == "started"
        assert router.route(email(1)).action == "duplicate"
        router.join(10)
    assert driver.runs == 1
