"""Deadlines: randomized approval delays, run expiries, approval policies and driver
deadlines, on a clock that runs five times faster than real time (the sandbox's clock,
also given to the dispatcher and the drivers as ``clock=``).

Properties: no submit is ever attempted after the run's ``expires_at``; every run ends in
an explicit status; a decision taken during the approval wait reaches the run as its tool
output, and one taken after it reaches the thread once, through the pending store and
``resolve_pending()`` or ``resolve_decision()``.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from mm_assistants import (
    ApprovalPolicy,
    AsyncAssistantsRunDriver,
    AsyncDispatcher,
    AsyncMultiMailClient,
    PollPolicy,
    RunOutcome,
    SQLitePendingStore,
    create_assistant,
)
from mm_assistants.sandbox import Sandbox, SandboxClock
from tests.reliability.support import (
    EXPLICIT_ENDS,
    LIST_ROUTE,
    PLAN_MODEL,
    async_openai_client,
    fast_retry,
    fast_sandbox,
    openai_client,
    plan_message,
    register_plan_script,
    scaled,
)

SPEED = 5.0  # clock seconds per real second
BATCHES = scaled(2, 8)
RUNS_PER_BATCH = scaled(10, 20)
EXPIRIES = (20, 30, 40)  # run_expiry_seconds, in clock seconds
#: The approval wait's margin before expiry, in clock seconds: 1.6 s of real time or more
#: for the last status check and the submit, even on a busy machine (a faster clock turns
#: a stall of the process into many clock seconds).
MARGINS = (8.0, 12.0)
FAST_POLL = PollPolicy(first_interval=0.02, max_interval=0.05, min_interval=0.005)
LATE_PREFIX = "[MultiMail] "


def fast_clock() -> SandboxClock:
    """Real time from now on, `SPEED` times faster."""
    start = time.time()
    return SandboxClock(source=lambda: start + (time.time() - start) * SPEED)


@dataclass
class Scenario:
    """One run: a gated send (and maybe an inbox check) in one step, a reviewer who
    decides ``delay`` clock seconds after the send is held, and how the driver waits."""

    tag: str
    decision: str
    delay: float
    policy: ApprovalPolicy
    driver_deadline: float | None
    with_read: bool
    mode: str
    held_at: float | None = None
    decided: bool = False
    email_id: str | None = None
    outcome: RunOutcome | None = None

    @property
    def subject(self) -> str:
        return f"deadline {self.tag}"

    @property
    def reason(self) -> str | None:
        return f"Not this week ({self.tag})." if self.decision == "reject" else None

    def steps(self) -> list[list[tuple[str, dict[str, Any]]]]:
        send = {"to": ["bob@example.com"], "subject": self.subject, "markdown": "Offer."}
        step: list[tuple[str, dict[str, Any]]] = [("send_email", send)]
        if self.with_read:
            step.append(("check_inbox", {"direction": "inbound", "limit": 2}))
        return [step]


def scenarios(rng: random.Random, batch: int, expiry: int) -> list[Scenario]:
    made = []
    for number in range(RUNS_PER_BATCH):
        policy = ApprovalPolicy(
            max_wait=rng.uniform(1, 2 * expiry),
            margin=rng.uniform(*MARGINS),
            first_delay=0.02,
            max_interval=0.1,  # a real-time pause: half a clock second on this clock
        )
        made.append(
            Scenario(
                tag=f"{batch}.{number}",
                decision=rng.choice(("approve", "reject")),
                delay=rng.uniform(0, 1.5 * expiry),
                policy=policy,
                driver_deadline=rng.uniform(3, 2 * expiry) if rng.random() < 0.3 else None,
                with_read=rng.random() < 0.5,
                mode=rng.choice(("poll", "stream")),
            )
        )
    return made


class ScheduledReviewer:
    """Decides each held send ``delay`` clock seconds after it first saw it held."""

    def __init__(self, sandbox: Sandbox, scenarios: list[Scenario]) -> None:
        self.sandbox = sandbox
        self.by_subject = {scenario.subject: scenario for scenario in scenarios}
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="deadline-reviewer", daemon=True)

    def _work(self) -> None:
        try:
            while not self._stop.wait(0.05):
                self.look()
        except BaseException as exc:  # noqa: BLE001 -- surfaced by __exit__
            self.error = exc

    def look(self) -> None:
        now = self.sandbox.clock()
        for email in self.sandbox.multimail.pending():
            scenario = self.by_subject[email["subject"]]
            if scenario.held_at is None:
                scenario.held_at, scenario.email_id = now, email["id"]
            if now >= scenario.held_at + scenario.delay:
                self.sandbox.multimail.decide(email["id"], scenario.decision, scenario.reason)
                scenario.decided = True

    def __enter__(self) -> ScheduledReviewer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)
        if self.error is not None:
            raise self.error


@dataclass
class Rig:
    sandbox: Sandbox
    client: openai.AsyncOpenAI
    dispatcher: AsyncDispatcher
    store: SQLitePendingStore
    assistant_id: str
    submits: dict[str, list[float]] = field(default_factory=dict)

    def driver(self, scenario: Scenario | None = None) -> AsyncAssistantsRunDriver:
        if scenario is None:
            return AsyncAssistantsRunDriver(self.client, self.dispatcher, clock=self.sandbox.clock)
        return AsyncAssistantsRunDriver(
            self.client,
            self.dispatcher,
            mode=scenario.mode,  # type: ignore[arg-type]
            approvals=scenario.policy,
            poll=FAST_POLL,
            deadline=scenario.driver_deadline,
            clock=self.sandbox.clock,
        )

    def submits_after_expiry(self, outcome: RunOutcome) -> list[float]:
        expires_at = outcome.run.expires_at
        return [
            at - expires_at for at in self.submits.get(str(outcome.run_id), []) if at >= expires_at
        ]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with fast_sandbox(clock=fast_clock()) as sandbox:
        register_plan_script(sandbox)
        yield sandbox


@pytest.fixture
async def rig(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Rig]:
    submits: dict[str, list[float]] = {}

    async def note_submit(request: httpx2.Request) -> None:
        # the moment the driver sends a submit, on the clock every party shares
        parts = request.url.path.split("/")
        if parts[-1] == "submit_tool_outputs":
            submits.setdefault(parts[-2], []).append(sandbox.clock())

    client = async_openai_client(sandbox, event_hooks={"request": [note_submit]})
    store = SQLitePendingStore(tmp_path / "pending.db")
    multimail = AsyncMultiMailClient(
        api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, timeout=5, retry=fast_retry()
    )
    async with client, multimail:
        with openai_client(sandbox) as sync:
            assistant = create_assistant(sync, model=PLAN_MODEL, mailbox_id=sandbox.mailbox_id)
        dispatcher = AsyncDispatcher(
            multimail,
            mailbox_id=sandbox.mailbox_id,
            audit=None,
            approval_store=store,
            clock=sandbox.clock,
        )
        yield Rig(sandbox, client, dispatcher, store, str(assistant.id), submits)
    store.close()


async def thread_texts(client: openai.AsyncOpenAI, thread_id: str) -> list[str]:
    page = await client.beta.threads.messages.list(thread_id, order="asc", limit=100)
    return ["".join(p.text.value for p in m.content if p.type == "text") for m in page.data]


async def submitted_outputs(client: openai.AsyncOpenAI, outcome: RunOutcome) -> str:
    steps = await client.beta.threads.runs.steps.list(
        str(outcome.run_id), thread_id=str(outcome.thread_id)
    )
    return " ".join(
        str(call.function.output)
        for step in steps.data
        if step.type == "tool_calls"
        for call in step.step_details.tool_calls  # type: ignore[union-attr]
    )


def late_text(scenario: Scenario) -> str:
    if scenario.decision == "approve":
        verdict = "was approved by a human and sent"
    else:
        verdict = f"was rejected by a human (reason: {scenario.reason})"
    return f"{LATE_PREFIX}The email {scenario.email_id} you sent earlier {verdict}."


async def test_no_submit_after_expiry_and_every_decision_reaches_its_thread(rig: Rig) -> None:
    rng = random.Random(20260301)
    counts = {"decided in the wait": 0, "delivered late": 0, "by resolve_decision": 0}
    for batch in range(BATCHES):
        expiry = EXPIRIES[batch % len(EXPIRIES)]
        rig.sandbox.openai.update(run_expiry_seconds=expiry)  # for the runs made next
        batch_scenarios = scenarios(rng, batch, expiry)
        await drive_batch(rig, batch_scenarios)
        for scenario in batch_scenarios:
            await check_scenario(rig, scenario, counts)
        await deliver_late_decisions(rig, batch_scenarios, counts)
    print(f"deadline scenarios: {BATCHES * RUNS_PER_BATCH}; {counts}")


async def drive_batch(rig: Rig, batch: list[Scenario]) -> None:
    """Drive the runs at once while the reviewer decides on its schedule; then move the
    clock on to the last decision still to come, and let the reviewer take it."""
    sandbox = rig.sandbox

    async def drive(scenario: Scenario) -> None:
        scenario.outcome = await rig.driver(scenario).create_thread_and_run(
            rig.assistant_id, [plan_message(scenario.steps())]
        )

    with ScheduledReviewer(sandbox, batch):
        await asyncio.gather(*(drive(scenario) for scenario in batch))
        due = [s.held_at + s.delay for s in batch if s.held_at and not s.decided]
        if due:
            sandbox.clock.advance(max(0.0, max(due) - sandbox.clock()) + 1)
        deadline = time.monotonic() + 10
        while not all(s.decided or s.held_at is None for s in batch):
            assert time.monotonic() < deadline, "the reviewer did not decide in time"
            await asyncio.sleep(0.02)


async def deliver_late_decisions(rig: Rig, batch: list[Scenario], counts: dict[str, int]) -> None:
    """Half the late decisions arrive as a webhook would bring them (`resolve_decision`),
    the rest are looked up (`resolve_pending`); each reaches its thread once."""
    driver = rig.driver()
    for scenario in batch[::2]:
        record = rig.store.get(str(scenario.email_id))
        if record is not None:
            email = rig.sandbox.multimail.email(record.email_id)
            assert email is not None
            assert await driver.resolve_decision(record.email_id, email) is not None
            counts["by resolve_decision"] += 1
    await driver.resolve_pending()
    assert rig.store.all() == [], "decided approvals were left undelivered"
    for scenario in batch:
        outcome = scenario.outcome
        assert outcome is not None
        texts = await thread_texts(rig.client, str(outcome.thread_id))
        late = [text for text in texts if text.startswith(LATE_PREFIX)]
        if [a.decision for a in outcome.approvals] == ["pending"]:
            assert late == [late_text(scenario)], scenario.tag
            counts["delivered late"] += 1
        else:
            assert late == [], scenario.tag


async def check_scenario(rig: Rig, scenario: Scenario, counts: dict[str, int]) -> None:
    outcome = scenario.outcome
    assert outcome is not None
    assert outcome.status in EXPLICIT_ENDS, (scenario.tag, outcome.status)
    assert rig.submits_after_expiry(outcome) == [], (
        f"{scenario.tag}: a submit after expires_at {outcome.run.expires_at}: {scenario}, "
        f"results {[(r.name, r.error_type, round(r.duration, 3)) for r in outcome.tool_results]}"
    )
    if not outcome.approvals:  # the driver's deadline cancelled the run before its step
        assert outcome.status == "cancelled", (scenario.tag, outcome.status)
        assert scenario.email_id is None, f"{scenario.tag}: a send nobody asked for"
        counts["cancelled before the step"] = counts.get("cancelled before the step", 0) + 1
        return
    assert scenario.decided, f"{scenario.tag}: the send was never held for the reviewer"
    [approval] = outcome.approvals
    assert approval.email_id == scenario.email_id
    if approval.decision == "pending":
        assert rig.store.get(approval.email_id) is not None, f"{scenario.tag}: not recorded"
        return
    # decided during the wait: the run took the outcome as its tool output
    expected = "approved" if scenario.decision == "approve" else "rejected"
    assert approval.decision == expected, scenario.tag
    assert outcome.status == "completed", (scenario.tag, outcome.status)
    status = "approved_and_sent" if expected == "approved" else "rejected"
    assert f'"status":"{status}"' in await submitted_outputs(rig.client, outcome)
    counts["decided in the wait"] += 1


# -- a step that outlasts its run ------------------------------------------------------------


async def slow_step(rig: Rig) -> tuple[RunOutcome, Scenario]:
    """A gated send approved at once, beside an inbox read that stalls past the run's
    expiry (8 clock seconds; the read takes 12)."""
    sandbox = rig.sandbox
    sandbox.openai.update(run_expiry_seconds=8)
    sandbox.faults.add(LIST_ROUTE, latency=2.4)  # real seconds: 12 on this clock
    policy = ApprovalPolicy(max_wait=100, margin=2, first_delay=0.02, max_interval=0.1)
    scenario = Scenario("slow", "approve", 0.0, policy, None, True, "poll")
    with ScheduledReviewer(sandbox, [scenario]):
        outcome = await rig.driver(scenario).create_thread_and_run(
            rig.assistant_id, [plan_message(scenario.steps())]
        )
    assert outcome.status == "expired"
    assert [a.decision for a in outcome.approvals] == ["approved"]
    return outcome, scenario


async def test_a_step_that_outlasts_its_run_is_not_submitted_after_expiry(rig: Rig) -> None:
    outcome, _ = await slow_step(rig)

    assert rig.submits_after_expiry(outcome) == []


async def test_a_decision_taken_in_a_step_that_outlasts_its_run_reaches_the_thread(
    rig: Rig,
) -> None:
    outcome, scenario = await slow_step(rig)
    await rig.driver().resolve_pending()

    texts = await thread_texts(rig.client, str(outcome.thread_id))
    assert late_text(scenario) in texts
