"""Fleet resume: how fast parked Responses runs are finished once their sends are approved.

``runs`` Responses runs (1,000; quick: 50) on the sandbox's OpenAI emulator each call
``send_email`` in the ``gated_send`` mailbox; the send is held and, undecided after
``park_after``, the run parks (`ResponsesDriver` with ``ApprovalPolicy(park_after=...)``
and a `PostgresCheckpointStore`), holding nothing. ``processes`` worker processes
(spawned) park them, ``threads`` runs at a time each. The reviewer approves every held
email through the sandbox's control; then each worker resumes the runs another worker
parked (`driver.resume(checkpoint_id)`: the decision read once, every output submitted,
the run driven to its end), ``threads`` at a time. Measured: runs resumed per second, from
the moment the workers are told to go to the last resume's end.

Baseline, in the same run and the same worker processes: as many fresh, never-parked runs
of the same script driven to their end (the send is not waited on:
``ApprovalPolicy(wait=False)``), runs per second likewise. A resumed run makes one model
request and one status GET where a fresh run makes two model requests and one send.

Checked: every resume ended ``completed``; resuming each checkpoint again finds it
``gone`` (finished exactly once); no send was dispatched again while resuming; every
approved email left the sandbox exactly once.
"""

from __future__ import annotations

import collections
import concurrent.futures
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.fleet_support import Workers, difference, multimail_requests, with_postgres
from bench.harness import Benchmark, Measured, Row
from mm_assistants import ApprovalPolicy
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox

SCRIPT_NAME = "bench-park"
SEND = {"to": ["bob@example.com"], "subject": "Parked", "markdown": "Held, parked, resumed."}
SCRIPT = [
    {"call": "send_email", "arguments": SEND},
    {"say": "The send ended: {{outputs.send_email.status}}"},
]
ASK = "Please send the report."
SEND_ROUTE = "POST /v1/mailboxes/{mailbox_id}/send"


@dataclass(frozen=True)
class FleetResumeConfig:
    """``runs`` runs parked after ``park_after`` seconds, then resumed by ``processes``
    workers ``threads`` at a time; each phase is given up after ``timeout`` seconds."""

    runs: int
    processes: int
    threads: int
    park_after: float
    timeout: float


QUICK = FleetResumeConfig(runs=50, processes=4, threads=8, park_after=0.2, timeout=60.0)
FULL = FleetResumeConfig(runs=1000, processes=4, threads=8, park_after=0.2, timeout=300.0)


@dataclass(frozen=True)
class Phase:
    """One phase's runs: how each ended, and the seconds from go to the last end."""

    runs: int
    ends: Mapping[str, int]
    seconds: float

    @property
    def completed(self) -> int:
        return int(self.ends.get("completed", 0))

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        ends = ", ".join(f"{n} {end}" for end, n in sorted(self.ends.items()))
        return f"{self.per_second:.1f} runs/s ({self.runs} runs in {self.seconds:.1f} s: {ends})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "ends": dict(self.ends),
            "seconds": round(self.seconds, 3),
            "runs_per_second": round(self.per_second, 2),
        }


@dataclass(frozen=True)
class Checks:
    """What the benchmark verified after the resumes."""

    gone_again: int
    sends_while_resuming: int
    delivered_once: int
    delivered_more: int

    def as_dict(self) -> dict[str, int]:
        return {
            "gone_when_resumed_again": self.gone_again,
            "sends_while_resuming": self.sends_while_resuming,
            "approved_emails_delivered_once": self.delivered_once,
            "approved_emails_delivered_more_than_once": self.delivered_more,
        }


def summarize_fleet_resume(
    resumed: Phase, fresh: Phase, checks: Checks, config: FleetResumeConfig
) -> tuple[Row, ...]:
    """Two rows: the throughput (context, against fresh runs) and the exactly-once checks."""
    whole = (
        resumed.completed == resumed.runs
        and checks.gone_again == resumed.runs
        and checks.sends_while_resuming == 0
        and checks.delivered_once == resumed.runs
        and checks.delivered_more == 0
    )
    workers = f"{config.processes} processes, {config.threads} threads each"
    return (
        Row(
            benchmark=f"fleet resume: {resumed.runs} parked runs resumed on PostgreSQL "
            f"checkpoints ({workers})",
            library=resumed.text(),
            baseline=f"{fresh.text()} (fresh, never-parked runs, same workers)",
            ratio=fresh.per_second / resumed.per_second if resumed.per_second > 0 else None,
            target=None,
            met=None,
        ),
        Row(
            benchmark="fleet resume: every run finished exactly once, every email sent once",
            library=(
                f"{resumed.completed}/{resumed.runs} completed, {checks.gone_again} gone when "
                f"resumed again, {checks.delivered_once} delivered once, "
                f"{checks.delivered_more} more than once, {checks.sends_while_resuming} sends "
                "while resuming"
            ),
            baseline="-",
            ratio=None,
            target="all runs completed once, no send repeated",
            met=whole,
            note=None if whole else f"see the numbers: {checks.as_dict()}",
        ),
    )


def sandbox_options(config: FleetResumeConfig) -> Mapping[str, Any]:
    """Held at once; the scripted model answers at once (the figure is the library's)."""
    return {
        "multimail_settings": MultiMailSandboxSettings(scan_delay=0.0),
        "openai_settings": OpenAIEmulatorSettings(scripts={SCRIPT_NAME: SCRIPT}),
    }


def measure(sandbox: Sandbox, config: FleetResumeConfig, dsn: str) -> Measured:
    """Park, approve, resume (measured), then the fresh runs (measured), then check."""
    spec = {
        "dsn": dsn,
        "openai_url": sandbox.openai_url,
        "multimail_url": sandbox.multimail_url,
        "api_key": sandbox.keys["send"],
        "mailbox_id": sandbox.mailbox_id,
        "threads": config.threads,
        "park_after": config.park_after,
        "timeout": config.timeout,
    }
    shares = [len(range(i, config.runs, config.processes)) for i in range(config.processes)]
    with Workers() as workers:
        commands = [workers.context.Queue() for _ in shares]
        for index, queue in enumerate(commands):
            workers.start(
                worker_main, queue, {**spec, "worker": index}, name=f"bench-resume-{index}"
            )
        for _ in shares:
            workers.expect("ready", timeout=60.0)
        parked = _phase(workers, commands, [("park", n) for n in shares], "parked", config)
        checkpoints = [cid for report in parked.reports for cid in report["checkpoints"]]
        emails = [eid for report in parked.reports for eid in report["emails"]]
        if parked.phase.completed or len(checkpoints) != config.runs:
            raise RuntimeError(f"the runs did not all park: {dict(parked.phase.ends)}")
        for email_id in emails:
            sandbox.multimail.decide(email_id, "approve")
        # each worker resumes what the next one parked: a resume runs anywhere
        by_worker = [list(report["checkpoints"]) for report in parked.reports]
        handed = by_worker[1:] + by_worker[:1]
        before = multimail_requests(sandbox)
        resumed = _phase(workers, commands, [("resume", ids) for ids in handed], "resumed", config)
        during = difference(multimail_requests(sandbox), before)
        fresh = _phase(workers, commands, [("fresh", n) for n in shares], "fresh", config)
        gone = _phase(workers, commands, [("resume", ids) for ids in by_worker], "resumed", config)
        for queue in commands:
            queue.put(None)
    delivered = collections.Counter(
        entry["email_id"] for entry in sandbox.multimail.sent() if entry["kind"] == "delivery"
    )
    checks = Checks(
        gone_again=int(gone.phase.ends.get("gone", 0)),
        sends_while_resuming=int(during.get(SEND_ROUTE, 0)),
        delivered_once=sum(1 for email_id in emails if delivered[email_id] == 1),
        delivered_more=sum(1 for email_id in emails if delivered[email_id] > 1),
    )
    numbers = {
        "parking": parked.phase.as_dict(),
        "resumed": resumed.phase.as_dict(),
        "fresh": fresh.phase.as_dict(),
        "multimail_requests_while_resuming": during,
        "checks": checks.as_dict(),
        "park_after_s": config.park_after,
    }
    rows = summarize_fleet_resume(resumed.phase, fresh.phase, checks, config)
    return Measured(rows, numbers)


@dataclass(frozen=True)
class Reported:
    """A phase summed over the workers, with each worker's report (in worker order)."""

    phase: Phase
    reports: Sequence[Mapping[str, Any]]


def _phase(
    workers: Workers,
    commands: Sequence[Any],
    orders: Sequence[tuple[str, Any]],
    kind: str,
    config: FleetResumeConfig,
) -> Reported:
    """Hand every worker its order at once; the phase ends with the last worker's report."""
    began = time.monotonic()
    for queue, order in zip(commands, orders, strict=True):
        queue.put(order)
    reports: dict[int, Mapping[str, Any]] = {}
    for _ in orders:
        report = workers.expect(kind, timeout=config.timeout + 30.0)
        reports[int(report["worker"])] = report
    ends: collections.Counter[str] = collections.Counter()
    for each in reports.values():
        ends.update(each["ends"])
    last = max(float(each["ended_at"]) for each in reports.values())
    runs = sum(sum(each["ends"].values()) for each in reports.values())
    ordered = [reports[index] for index in sorted(reports)]
    return Reported(Phase(runs, dict(ends), last - began), ordered)


def worker_main(reports: Any, commands: Any, spec: Mapping[str, Any]) -> None:
    """One worker process: park, resume or run fresh runs as the parent orders."""
    import openai

    from mm_assistants import Dispatcher, MultiMailClient
    from mm_assistants.drivers import ResponsesDriver
    from mm_assistants.state.postgres.checkpoints import PostgresCheckpointStore
    from mm_assistants.state.postgres.connection import PostgresDatabase

    index = int(spec["worker"])
    database = PostgresDatabase(spec["dsn"], pool_size=int(spec["threads"]) + 2)
    try:
        with (
            openai.OpenAI(api_key="sk-sandbox", base_url=spec["openai_url"], max_retries=0) as ai,
            MultiMailClient(api_key=spec["api_key"], base_url=spec["multimail_url"]) as mm,
            concurrent.futures.ThreadPoolExecutor(int(spec["threads"])) as pool,
        ):
            dispatcher = Dispatcher(mm, mailbox_id=spec["mailbox_id"], audit=None)
            park = ApprovalPolicy(
                max_wait=float(spec["timeout"]), park_after=float(spec["park_after"])
            )
            parking = ResponsesDriver(
                ai, dispatcher, approvals=park, checkpoints=PostgresCheckpointStore(database)
            )
            fresh = ResponsesDriver(ai, dispatcher, approvals=ApprovalPolicy(wait=False))
            reports.put({"kind": "ready"})
            while True:
                order = commands.get(timeout=float(spec["timeout"]) * 4)  # bounded life
                if order is None:
                    return
                what, argument = order
                if what == "park":
                    outcomes = list(pool.map(lambda _: _run(parking), range(argument)))
                    kind = "parked"
                elif what == "resume":
                    outcomes = list(pool.map(parking.resume, argument))
                    kind = "resumed"
                else:
                    outcomes = list(pool.map(lambda _: _run(fresh), range(argument)))
                    kind = "fresh"
                reports.put(_report(kind, index, outcomes))
    except BaseException as error:  # reported to the parent, then raised again
        reports.put({"kind": "error", "error": f"{type(error).__name__}: {str(error)[:300]}"})
        raise
    finally:
        database.close()


def _run(driver: Any) -> Any:
    return driver.run(ASK, model=f"scripted:{SCRIPT_NAME}")


def _report(kind: str, index: int, outcomes: Sequence[Any]) -> dict[str, Any]:
    ended_at = time.monotonic()
    parked = [outcome for outcome in outcomes if outcome.status == "parked"]
    return {
        "kind": kind,
        "worker": index,
        "ended_at": ended_at,
        "ends": dict(collections.Counter(str(outcome.status) for outcome in outcomes)),
        "checkpoints": [str(outcome.checkpoint_id) for outcome in parked],
        "emails": [a.email_id for outcome in parked for a in outcome.approvals],
        "errors": [str(o.last_error)[:200] for o in outcomes if o.last_error is not None][:3],
    }


TITLE = "Fleet resume: parked runs resumed per second on PostgreSQL checkpoints"
BENCHMARK = Benchmark(
    name="fleet_resume",
    title=TITLE,
    quick=QUICK,
    full=FULL,
    sandbox_options=sandbox_options,
    measure=with_postgres(TITLE, measure),
)
