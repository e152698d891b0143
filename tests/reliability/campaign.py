"""A fault campaign: many planned runs on one sandbox, driven concurrently while the
sandbox injects seeded faults, then checked email by email (see `test_exactly_once`).

The sandbox has the seeded ``gated_send`` mailbox, whose sends an `Approver` approves,
and an ``autonomous`` one. Each run's plan (one or two steps of sends, a reply to an email
of its own and a status read) travels in its user message to the plan model. Sends carry
a unique subject, replies answer a unique question, so every stored email names the call
that made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mm_assistants import (
    AssistantsRunDriver,
    AsyncAssistantsRunDriver,
    AsyncDispatcher,
    AsyncMultiMailClient,
    CallContext,
    Dispatcher,
    MemoryPendingStore,
    MultiMailClient,
    PollPolicy,
    RunOutcome,
    ToolCall,
    ToolResult,
    create_assistant,
)
from mm_assistants.sandbox import Sandbox
from tests.reliability.support import (
    DONE_TEXT,
    EXPLICIT_ENDS,
    LIST_ROUTE,
    PLAN_MODEL,
    QUICK_APPROVALS,
    READ_ROUTE,
    REPLY_ROUTE,
    SEND_ROUTE,
    Approver,
    async_openai_client,
    autonomous_mailbox,
    deliveries_by_subject,
    fast_retry,
    fast_sandbox,
    openai_client,
    plan_message,
    register_plan_script,
    stored_by_subject,
    wait_until_quiet,
)

CONCURRENCY = 12
GATED_SHARE = 0.25  # runs on the gated_send mailbox, whose sends the Approver approves
CLIENT_TIMEOUT = 0.4
STALL = 0.6  # an injected latency longer than the client's timeout
FAST_POLL = PollPolicy(first_interval=0.02, max_interval=0.1, min_interval=0.005)
RUN_DEADLINE = 120.0  # seconds: a drive that takes longer is cancelled, and the check fails
WRITES = ("send_email", "reply_email")
Step = list[tuple[str, dict[str, Any]]]

KNOWN_FAILURES = ("network_error", "api_error", "outcome_unknown")


def inject_faults(sandbox: Sandbox, seed: int) -> None:
    """Seeded random faults on the writes and on the status reads."""
    for offset, route in enumerate((SEND_ROUTE, REPLY_ROUTE)):
        rule_seed = seed * 100 + offset * 10
        sandbox.faults.add(route, commit_then_drop=True, rate=0.12, seed=rule_seed)
        sandbox.faults.add(route, status=503, rate=0.08, seed=rule_seed + 1)
        sandbox.faults.add(route, status=429, retry_after=0.02, rate=0.08, seed=rule_seed + 2)
        sandbox.faults.add(route, latency=STALL, rate=0.03, seed=rule_seed + 3)
    for offset, route in enumerate((READ_ROUTE, LIST_ROUTE)):
        rule_seed = seed * 100 + 50 + offset * 10
        sandbox.faults.add(route, status=500, rate=0.1, seed=rule_seed)
        sandbox.faults.add(route, status=429, retry_after=0.01, rate=0.05, seed=rule_seed + 1)
        sandbox.faults.add(route, latency=STALL, rate=0.03, seed=rule_seed + 2)


@dataclass
class Write:
    """One planned send or reply, and what became of it."""

    tag: str
    name: str
    arguments: dict[str, Any]
    subject: str  # as stored: a reply's is "Re: " and its question's
    mailbox_id: str
    result: ToolResult | None = None
    outcome: RunOutcome | None = None


@dataclass
class PlannedRun:
    tag: str
    mailbox_id: str
    steps: list[Step]
    writes: list[Write]
    outcome: RunOutcome | None = None


@dataclass
class Campaign:
    """The sandbox, its two mailboxes, the plan model's assistant and the planned runs."""

    sandbox: Sandbox
    seed: int
    auto_mailbox: str
    assistant_id: str
    runs: list[PlannedRun] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def open(cls, seed: int) -> Iterator[Campaign]:
        """A fresh sandbox set up for a campaign, faults injected."""
        with fast_sandbox() as sandbox:
            register_plan_script(sandbox)
            auto = autonomous_mailbox(sandbox)
            with openai_client(sandbox) as client:
                assistant = create_assistant(client, model=PLAN_MODEL)
            inject_faults(sandbox, seed)
            yield cls(sandbox, seed, auto, str(assistant.id))

    def plan(self, count: int, prefix: str) -> None:
        """Plan ``count`` runs tagged ``prefix0``, ``prefix1``, …"""
        rng = random.Random(self.seed)
        for index in range(count):
            gated = rng.random() < GATED_SHARE
            mailbox = self.sandbox.mailbox_id if gated else self.auto_mailbox
            self.runs.append(self._plan_one(rng, f"{prefix}{index}", mailbox))

    def _plan_one(self, rng: random.Random, tag: str, mailbox: str) -> PlannedRun:
        writes: list[Write] = []
        steps: list[Step] = []
        for step_number in range(rng.choice((1, 1, 2))):
            step: list[tuple[str, dict[str, Any], Write | None]] = []
            for number in range(rng.choice((1, 2))):
                subject = f"{tag} send {step_number}.{number}"
                args = {"to": ["bob@example.com"], "subject": subject, "markdown": "Numbers."}
                step.append(("send_email", args, Write(tag, "send_email", args, subject, mailbox)))
            inbound_id = None
            if rng.random() < 0.5:
                question = f"{tag} question {step_number}"
                inbound_id = self.sandbox.multimail.inject_inbound(
                    mailbox, sender="ana@customer.example", subject=question, markdown="Meet?"
                )["id"]
                args = {"email_id": inbound_id, "markdown": f"Thursday works ({tag})."}
                reply = Write(tag, "reply_email", args, f"Re: {question}", mailbox)
                step.append(("reply_email", args, reply))
            if inbound_id is not None and rng.random() < 0.5:
                step.append(("read_email", {"email_id": inbound_id}, None))
            else:
                step.append(("check_inbox", {"direction": "inbound", "limit": 3}, None))
            rng.shuffle(step)  # the writes are listed in the order the model makes them
            steps.append([(name, args) for name, args, _ in step])
            writes.extend(write for _, _, write in step if write is not None)
        return PlannedRun(tag, mailbox, steps, writes)

    def record(self, run: PlannedRun, outcome: RunOutcome) -> None:
        """Keep ``outcome`` and pair each write with its tool result."""
        run.outcome = outcome
        if outcome.status != "completed":
            return
        planned = [name for step in run.steps for name, _ in step]
        assert [r.name for r in outcome.tool_results] == planned, run.tag
        results = (r for r in outcome.tool_results if r.name in WRITES)
        for write, result in zip(run.writes, results, strict=True):
            write.result, write.outcome = result, outcome

    def writes(self) -> list[Write]:
        return [write for run in self.runs for write in run.writes]

    # -- driving --------------------------------------------------------------------------

    async def drive_async(self, approver: Approver) -> Counter[str]:
        """Every planned run through the async drivers (poll and stream), `CONCURRENCY`
        at a time; then `check`."""
        sandbox = self.sandbox
        store = MemoryPendingStore()
        limit = asyncio.Semaphore(CONCURRENCY)
        client = async_openai_client(sandbox)
        multimail = AsyncMultiMailClient(
            api_key=sandbox.keys["send"],
            base_url=sandbox.multimail_url,
            timeout=CLIENT_TIMEOUT,
            retry=fast_retry(),
        )
        async with client, multimail:
            drivers = {}
            for mailbox in (sandbox.mailbox_id, self.auto_mailbox):
                dispatcher = AsyncDispatcher(
                    multimail, mailbox_id=mailbox, audit=None, approval_store=store
                )
                for mode in ("poll", "stream"):
                    drivers[mailbox, mode] = AsyncAssistantsRunDriver(
                        client,
                        dispatcher,
                        mode=mode,
                        approvals=QUICK_APPROVALS,
                        poll=FAST_POLL,
                        deadline=RUN_DEADLINE,
                    )

            async def drive(number: int, run: PlannedRun) -> None:
                driver = drivers[run.mailbox_id, ("poll", "stream")[number % 2]]
                async with limit:
                    outcome = await driver.create_thread_and_run(
                        self.assistant_id, [plan_message(run.steps)]
                    )
                self.record(run, outcome)

            await asyncio.gather(*(drive(n, run) for n, run in enumerate(self.runs)))
            return await asyncio.to_thread(self.check, approver)

    def drive_sync(self, approver: Approver) -> Counter[str]:
        """Every planned run through the sync drivers, from `CONCURRENCY` / 2 threads;
        then `check`."""
        sandbox = self.sandbox
        store = MemoryPendingStore()
        with (
            openai_client(sandbox) as client,
            MultiMailClient(
                api_key=sandbox.keys["send"],
                base_url=sandbox.multimail_url,
                timeout=CLIENT_TIMEOUT,
                retry=fast_retry(),
            ) as multimail,
        ):
            drivers = {}
            for mailbox in (sandbox.mailbox_id, self.auto_mailbox):
                dispatcher = Dispatcher(
                    multimail, mailbox_id=mailbox, audit=None, approval_store=store
                )
                for mode in ("poll", "stream"):
                    drivers[mailbox, mode] = AssistantsRunDriver(
                        client,
                        dispatcher,
                        mode=mode,
                        approvals=QUICK_APPROVALS,
                        poll=FAST_POLL,
                        deadline=RUN_DEADLINE,
                    )

            def drive(number: int) -> None:
                run = self.runs[number]
                driver = drivers[run.mailbox_id, ("poll", "stream")[number % 2]]
                outcome = driver.create_thread_and_run(self.assistant_id, [plan_message(run.steps)])
                self.record(run, outcome)

            with ThreadPoolExecutor(CONCURRENCY // 2) as pool:
                list(pool.map(drive, range(len(self.runs))))
            return self.check(approver)

    # -- checking -------------------------------------------------------------------------

    def check(self, approver: Approver) -> Counter[str]:
        """Once every run has ended: the properties of `test_exactly_once`. Answers how
        the writes' results ended (e.g. ``{"ok: already_sent": 40, ...}``)."""
        sandbox, seed = self.sandbox, self.seed
        fired = Counter(rule["route"] for rule in sandbox.faults.rules() if rule["hits"])
        sandbox.faults.clear()
        wait_until_quiet(sandbox, approver, STALL + 0.2)

        ends = Counter(run.outcome.status if run.outcome else "no outcome" for run in self.runs)
        assert set(ends) <= EXPLICIT_ENDS, f"runs without an explicit end: {ends} (seed {seed})"
        assert ends["completed"] == len(self.runs), f"{ends} (seed {seed})"
        assert all(DONE_TEXT in (run.outcome.text if run.outcome else "") for run in self.runs)
        assert {SEND_ROUTE, REPLY_ROUTE, READ_ROUTE, LIST_ROUTE} <= set(fired), fired

        delivered = deliveries_by_subject(sandbox)
        stored = stored_by_subject(sandbox, [sandbox.mailbox_id, self.auto_mailbox])
        assert {s: sorted(ids) for s, ids in stored.items()} == {
            s: sorted(ids) for s, ids in delivered.items()
        }, "stored emails and deliveries differ: an email was held, lost or sent twice"
        kinds: Counter[str] = Counter()
        failed: list[Write] = []
        for write in self.writes():
            result = write.result
            assert result is not None, write.tag
            held = stored.get(write.subject, [])
            assert len(held) <= 1, f"{write.subject!r} stored {len(held)} times (seed {seed})"
            if result.ok:
                answer = json.loads(result.output)
                assert held == [answer["id"]], (
                    f"{write.name} answered {answer} but the sandbox holds {held} (seed {seed})"
                )
                kinds["ok: " + str(answer["status"])] += 1
            else:
                # A write that may have reached MultiMail says so (outcome_unknown); one that
                # never did, or that MultiMail refused, is a network or API error.
                if held:
                    assert result.error_type in ("outcome_unknown", "api_error"), result.output
                else:
                    assert result.error_type in KNOWN_FAILURES, result.output
                kinds[f"error: {result.error_type}, {len(held)} stored"] += 1
                failed.append(write)
        planned = {write.subject for write in self.writes()}
        assert set(stored) <= planned, f"emails nobody asked for: {set(stored) - planned}"

        self.redispatch(failed)
        wait_until_quiet(sandbox, approver, 0.0)
        delivered = deliveries_by_subject(sandbox)
        for write in failed:
            again = delivered.get(write.subject, [])
            assert len(again) == 1, f"{write.subject!r} sent {len(again)} times (seed {seed})"
        return kinds

    def redispatch(self, failed: list[Write]) -> None:
        """Dispatch each failed write again, as the same call of the same run: it
        completes, with the email an earlier attempt stored if there is one."""
        sandbox = self.sandbox
        before = deliveries_by_subject(sandbox)
        with MultiMailClient(
            api_key=sandbox.keys["send"], base_url=sandbox.multimail_url
        ) as client:
            for write in failed:
                assert write.result is not None
                assert write.outcome is not None
                dispatcher = Dispatcher(client, mailbox_id=write.mailbox_id, audit=None)
                context = CallContext(
                    thread_id=write.outcome.thread_id, run_id=write.outcome.run_id
                )
                arguments = json.dumps(write.arguments)
                again = dispatcher.dispatch(
                    ToolCall(write.result.call_id, write.name, arguments, context)
                )
                assert again.ok, again.output
                assert again.idempotency_key == write.result.idempotency_key
                earlier = before.get(write.subject, [])
                assert earlier in ([], [json.loads(again.output)["id"]]), write.subject
