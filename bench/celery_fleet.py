"""Celery fleet: what running the runs on Celery workers costs, per run.

``runs`` inbound emails (200; quick: 30) arrive in the sandbox's ``gated_send`` mailbox and
are answered by a Celery fleet (`tests.reliability.celery_fleet`: Redis, a web endpoint,
two prefork workers, beat; PostgreSQL as the system of record); an operator approves every
held reply as soon as it is held. Measured:

- **client CPU per run**: user + system CPU of every fleet process (web, workers' main and
  pool processes, beat) from the moment the fleet is idle to the last run's end, divided
  by the runs. Baseline, in the same run: the same runs (same scripted model, same
  operator) driven by one process with `AsyncResponsesDriver`, its own CPU likewise.
- **broker commands per run**: Redis ``INFO stats`` ``total_commands_processed`` over the
  same window, divided by the runs (``LPUSH``es, the enqueued messages, too).
- **recovery after a kill**: one pool child SIGKILLed while it runs a task; the seconds
  until a task on the same key started in another process finished not ``busy``.

No worker-count scaling ratio: on a 2-core machine it measures the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.fleet_support import with_postgres
from bench.harness import Benchmark, Measured, Row
from mm_assistants.sandbox import Sandbox

TITLE = "inbound email → finished run on a Celery fleet (Redis broker, PostgreSQL state)"
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CeleryFleetConfig:
    """``runs`` inbound emails; each phase given up after ``timeout`` seconds."""

    runs: int
    timeout: float


QUICK = CeleryFleetConfig(runs=30, timeout=120.0)
FULL = CeleryFleetConfig(runs=200, timeout=600.0)


@dataclass(frozen=True)
class Side:
    """One side's figures: CPU seconds over ``runs`` runs, and (fleet only) the broker's
    commands and LPUSHes and the recovery seconds after a kill."""

    runs: int
    cpu: float
    commands: int = 0
    pushes: int = 0
    recovery: float | None = None


def summarize_celery_fleet(fleet: Side, baseline: Side) -> list[Row]:
    """The benchmark's rows (pure: tested on made-up numbers)."""
    per_run = fleet.cpu / fleet.runs
    base = baseline.cpu / baseline.runs
    recovery = "—" if fleet.recovery is None else f"{fleet.recovery:.2f} s"
    return [
        Row(
            benchmark="client CPU per run (web + workers + beat)",
            library=f"{per_run * 1000:.1f} ms/run (n={fleet.runs})",
            baseline=f"{base * 1000:.1f} ms/run: one process, AsyncResponsesDriver",
            ratio=per_run / base if base else None,
            target=None,
            met=None,
        ),
        Row(
            benchmark="broker (Redis) per run",
            library=f"{fleet.commands / fleet.runs:.1f} commands/run,"
            f" {fleet.pushes / fleet.runs:.2f} messages enqueued/run",
            baseline="—",
            ratio=None,
            target=None,
            met=None,
        ),
        Row(
            benchmark="pool child SIGKILLed mid-task → the run resumed in another process",
            library=recovery,
            baseline="—",
            ratio=None,
            target=None,
            met=None,
        ),
    ]


def _cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pushes(broker: Any) -> int:
    stats = broker.call("INFO", "commandstats")
    entry = stats.get("cmdstat_lpush", {}) if isinstance(stats, dict) else {}
    return int(entry.get("calls", 0))


def _operator(sandbox: Sandbox, stop: threading.Event) -> None:
    """Approve every held reply as soon as it is held."""
    while not stop.is_set():
        for held in sandbox.multimail.pending():
            with contextlib.suppress(ValueError):  # decided meanwhile
                sandbox.multimail.decide(held["id"], "approve", None)
        stop.wait(0.05)


def _inject(sandbox: Sandbox, runs: int, tag: str) -> list[str]:
    return [
        sandbox.multimail.inject_inbound(
            sender=f"{tag}{n}@example.com", subject=f"{tag} {n}", markdown=f"Order {n}?"
        )["id"]
        for n in range(runs)
    ]


def _wait_answered(sandbox: Sandbox, inbound: list[str], timeout: float) -> None:
    from tests.reliability.celery_fleet import replies

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answers = replies(sandbox)
        if all(any(r["status"] in ("read", "sent", "delivered") for r in answers.get(e, []))
               for e in inbound):  # fmt: skip
            return
        time.sleep(0.2)
    raise RuntimeError(f"not every run ended within {timeout:g} s")


def measure_fleet(sandbox: Sandbox, config: CeleryFleetConfig, dsn: str) -> Measured:
    from tests.reliability.celery_fleet import CeleryFleet, why_no_redis
    from tests.reliability.fleet_campaign import recoveries

    if why_no_redis():
        from bench.fleet_support import skipped

        return skipped(TITLE, str(why_no_redis()))
    stop = threading.Event()
    deciding = threading.Thread(target=_operator, args=(sandbox, stop), daemon=True)
    deciding.start()
    try:
        baseline = _baseline(sandbox, config)
        with CeleryFleet(sandbox, dsn, workers=2, park_after=30.0) as fleet:
            time.sleep(2.0)  # the worker_ready sweeps and the first beat are done
            pids = {p.pid for p in fleet.started} | fleet.pids
            for index in range(fleet.count):
                fleet.child(index)
            pids |= fleet.pids
            cpu0, commands0 = sum(map(_cpu, pids)), fleet.broker.commands()
            pushes0 = _pushes(fleet.broker)
            inbound = _inject(sandbox, config.runs, "fleet")
            _wait_answered(sandbox, inbound, config.timeout)
            cpu = sum(map(_cpu, pids)) - cpu0
            side = Side(config.runs, cpu, fleet.broker.commands() - commands0,
                        _pushes(fleet.broker) - pushes0)  # fmt: skip
            side = Side(side.runs, side.cpu, side.commands, side.pushes,
                        _recovery(sandbox, fleet, recoveries, config))  # fmt: skip
    finally:
        stop.set()
        deciding.join(5)
    rows = summarize_celery_fleet(side, baseline)
    numbers = {"fleet": side.__dict__, "baseline": baseline.__dict__}
    return Measured(tuple(rows), numbers)


def _recovery(sandbox: Sandbox, fleet: Any, recoveries: Any, config: Any) -> float | None:
    """Kill a pool child while it runs a task; the seconds until another process ran it."""
    from tests.reliability.fleet_campaign import Kill

    inbound = _inject(sandbox, 4, "kill")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # a child in the middle of a task
        busy = [t for t in fleet.tasks() if t.phase == "start" and t.key not in
                {e.key for e in fleet.tasks() if e.phase == "end" and e.at == t.at}]  # fmt: skip
        if busy:
            break
        time.sleep(0.02)
    index = next((i for i in range(fleet.count) if fleet.child(i) in {t.pid for t in busy}), 0)
    kill = Kill("child", time.time(), fleet.kill_child(index))
    _wait_answered(sandbox, inbound, config.timeout)
    # The killed run's reply may be approved and delivered before another worker takes
    # the run over (after the lease): wait for that take-over too, bounded.
    deadline = time.monotonic() + 30
    found = recoveries(fleet, [kill])
    while not found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = recoveries(fleet, [kill])
    return min(found) if found else None


def _baseline(sandbox: Sandbox, config: CeleryFleetConfig) -> Side:
    """The same runs driven by one process (``python -m bench.celery_fleet baseline``)."""
    inbound = _inject(sandbox, config.runs, "base")
    env = {**os.environ, **sandbox.environment()}
    done = subprocess.run(
        [sys.executable, "-m", "bench.celery_fleet", "baseline", *inbound],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=config.timeout,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the baseline process failed: {done.stderr[-500:]}")
    return Side(config.runs, float(done.stdout.split()[-1]))


async def _drive_all(email_ids: list[str]) -> None:
    from openai import AsyncOpenAI

    from mm_assistants import AsyncDispatcher, AsyncMultiMailClient, AsyncResponsesDriver
    from mm_assistants.approvals import ApprovalPolicy

    async with AsyncMultiMailClient() as multimail:
        dispatcher = AsyncDispatcher(multimail)
        policy = ApprovalPolicy(first_delay=0.05, max_interval=0.2)
        driver = AsyncResponsesDriver(AsyncOpenAI(), dispatcher, approvals=policy)
        await asyncio.gather(
            *(driver.run(f"email_id: {e}", model="scripted:reply") for e in email_ids)
        )


def baseline_main(email_ids: list[str]) -> int:
    """Drive the runs; print this process's CPU seconds (the last word of stdout)."""
    asyncio.run(_drive_all(email_ids))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"cpu {usage.ru_utime + usage.ru_stime:.4f}")
    return 0


def sandbox_options(config: CeleryFleetConfig) -> Mapping[str, Any]:
    from tests.reliability.celery_fleet import ReplyModel
    from tests.reliability.celery_fleet import sandbox_options as options

    return options(ReplyModel())


BENCHMARK = Benchmark(
    name="celery_fleet",
    title=TITLE,
    quick=QUICK,
    full=FULL,
    sandbox_options=sandbox_options,
    measure=with_postgres(TITLE, measure_fleet),
)


if __name__ == "__main__" and sys.argv[1:2] == ["baseline"]:
    sys.exit(baseline_main(sys.argv[2:]))
