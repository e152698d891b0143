"""Many runs at once: one `AsyncAssistantsRunDriver` process against the SDK helpers in a
32-thread pool.

Each run is the same scripted Assistants run: one ``check_inbox`` tool call, then an
answer, the model "thinking" 200 ms per turn. The library side starts every run at once on
one event loop (no semaphore); the baseline drives them with the openai SDK's
``create_and_poll`` / ``submit_tool_outputs_and_poll`` in a pool of 32 threads. For
context, the library drives the same runs once more with an ``asyncio.Semaphore`` letting
no more than 32 be under way, as many as the baseline's threads. Each side runs in a client
process of its own (`bench.concurrent_client`), against the sandbox that stays in this
process, so the client's figures hold no server work: CPU seconds per run by
``resource.getrusage`` in the client (user + system, from the first request to the last
answer), peak RSS by its ``ru_maxrss`` (its whole life, imports included). The sandbox's own
CPU (this process, idle but for it) is in the numbers, to show whether it kept up.
Targets, for the runs started all at once: client CPU per run ≤ the baseline's, peak RSS
≤ 250 MB, every run completed.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

from bench.concurrent_client import LIBRARY, SDK, ClientSpec
from bench.harness import Benchmark, Measured, Row
from bench.stats import fmt_seconds
from mm_assistants import create_assistant
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox

SCRIPT_NAME = "bench-one-tool"
SCRIPT = [
    {"call": "check_inbox", "arguments": {"direction": "inbound", "limit": 5}},
    {"say": "Newest: {{outputs.check_inbox.emails.0.id}}"},
]
RSS_LIMIT_MB = 250.0
CREATE_RUN = "POST /threads/{thread_id}/runs"
REPO = Path(__file__).resolve().parent.parent
AT_ONCE, BOUNDED = "library, all at once", "library, bounded"
MULTIMAIL_POOL = 100  # httpx's default max_connections, which AsyncMultiMailClient keeps
CPU_BOUND = 0.8  # a client busy this share of the wall time is said to be CPU-bound


@dataclass(frozen=True)
class ConcurrentConfig:
    """``runs`` runs per side; the baseline's pool has ``threads`` threads, and the bounded
    library side lets ``in_flight`` runs be under way; the model takes ``model_latency``
    seconds a turn; a side gives up on its runs after ``timeout``."""

    runs: int
    threads: int
    in_flight: int
    model_latency: float
    timeout: float


QUICK = ConcurrentConfig(runs=100, threads=32, in_flight=32, model_latency=0.2, timeout=60.0)
FULL = ConcurrentConfig(runs=1000, threads=32, in_flight=32, model_latency=0.2, timeout=360.0)


@dataclass(frozen=True)
class Side:
    """What one client process reported, plus the sandbox's view of the same stretch."""

    runs: int
    concurrency: int
    ends: Mapping[str, int]
    lost: int
    wall_s: float
    cpu_s: float
    max_rss_mb: float
    samples: Mapping[str, str] = field(default_factory=dict)
    server_cpu_s: float = 0.0
    runs_created: int = 0
    openai_requests: int = 0

    @property
    def completed(self) -> int:
        return self.ends.get("completed", 0)

    @property
    def runs_per_second(self) -> float:
        return self.completed / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def cpu_per_run(self) -> float:
        return self.cpu_s / max(self.runs, 1)

    def failures(self) -> str:
        """The runs that did not complete, by how they ended (empty when none)."""
        others = {end: n for end, n in sorted(self.ends.items()) if end != "completed"}
        if self.lost:
            others["lost (no end within the timeout)"] = self.lost
        return ", ".join(f"{n} {end}" for end, n in others.items())

    def completed_text(self) -> str:
        text = f"{self.completed}/{self.runs} completed"
        failures = self.failures()
        return f"{text} ({failures})" if failures else text

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ends"] = dict(self.ends)
        data["samples"] = dict(self.samples)
        data["runs_per_second"] = round(self.runs_per_second, 2)
        data["cpu_ms_per_run"] = round(self.cpu_per_run * 1e3, 2)
        return data


def summarize_concurrent(
    at_once: Side, baseline: Side, bounded: Side | None = None
) -> tuple[Row, ...]:
    """The runs started at once against the baseline: throughput (context), client CPU per
    run, peak RSS, runs completed; then the bounded runs, for context."""
    name = f"{at_once.runs} runs at once"
    base = f"SDK helpers, {baseline.concurrency} threads"
    cheaper = at_once.cpu_per_run <= baseline.cpu_per_run
    small = at_once.max_rss_mb <= RSS_LIMIT_MB
    whole = at_once.completed == at_once.runs
    rows = [
        Row(
            benchmark=f"{name}: throughput (one AsyncAssistantsRunDriver)",
            library=f"{at_once.runs_per_second:.1f} runs/s",
            baseline=f"{baseline.runs_per_second:.1f} runs/s ({base})",
            ratio=_ratio(baseline.runs_per_second, at_once.runs_per_second),
            target=None,
            met=None,
        ),
        Row(
            benchmark=f"{name}: client CPU per run",
            library=f"{fmt_seconds(at_once.cpu_per_run)} per run",
            baseline=f"{fmt_seconds(baseline.cpu_per_run)} per run ({base})",
            ratio=_ratio(at_once.cpu_per_run, baseline.cpu_per_run),
            target="≤ 1.00x",
            met=cheaper,
            note=None if cheaper else _cpu_note(at_once, baseline, bounded),
        ),
        Row(
            benchmark=f"{name}: client peak RSS",
            library=f"{at_once.max_rss_mb:.0f} MB",
            baseline=f"{baseline.max_rss_mb:.0f} MB ({base})",
            ratio=_ratio(at_once.max_rss_mb, baseline.max_rss_mb),
            target=f"≤ {RSS_LIMIT_MB:g} MB",
            met=small,
            note=None
            if small
            else (
                f"{at_once.max_rss_mb:.0f} MB with {at_once.runs} runs in flight, "
                f"{(at_once.max_rss_mb - baseline.max_rss_mb) * 1024 / at_once.runs:.0f} KB "
                "per run more than the baseline's process"
            ),
        ),
        Row(
            benchmark=f"{name}: runs completed",
            library=at_once.completed_text(),
            baseline=f"{baseline.completed_text()} ({base})",
            ratio=None,
            target="every run completed",
            met=whole,
            note=None if whole else _failure_note(at_once),
        ),
    ]
    if bounded is not None:
        limited = f"{bounded.runs} runs, ≤ {bounded.concurrency} in flight (semaphore)"
        rows += [
            Row(
                benchmark=f"{limited}: throughput",
                library=f"{bounded.runs_per_second:.1f} runs/s, {bounded.completed_text()}",
                baseline=f"{baseline.runs_per_second:.1f} runs/s ({base})",
                ratio=_ratio(baseline.runs_per_second, bounded.runs_per_second),
                target=None,
                met=None,
            ),
            Row(
                benchmark=f"{limited}: client CPU per run, peak RSS",
                library=f"{fmt_seconds(bounded.cpu_per_run)} per run, {bounded.max_rss_mb:.0f} MB",
                baseline=f"{fmt_seconds(baseline.cpu_per_run)} per run, "
                f"{baseline.max_rss_mb:.0f} MB",
                ratio=_ratio(bounded.cpu_per_run, baseline.cpu_per_run),
                target=None,
                met=None,
            ),
        ]
    return tuple(rows)


def _cpu_note(at_once: Side, baseline: Side, bounded: Side | None) -> str:
    note = (
        f"{fmt_seconds(at_once.cpu_per_run)} against {fmt_seconds(baseline.cpu_per_run)} per "
        f"run, with {at_once.runs} runs in flight against the baseline's "
        f"{baseline.concurrency}: a request costs the client more the more are under way "
        "(profiled: at 100 runs about a third of the CPU is httpcore's pool bookkeeping, "
        "which checks every pooled connection, socket poll included, for each request"
    )
    if at_once.runs > MULTIMAIL_POOL:
        note += (
            f"; past {MULTIMAIL_POOL} runs the OpenAI SDK's own pool of the same size queues the "
            "runs' polls too, while AsyncMultiMailClient admits at most max_in_flight requests "
            "to its pool"
        )
    note += ")"
    if at_once.server_cpu_s > 0 and at_once.wall_s > 0:
        busy = at_once.cpu_s / at_once.wall_s
        state = "was CPU-bound" if busy >= CPU_BOUND else f"was busy {busy:.0%} of the time"
        note += (
            f"; the client process {state} ({at_once.cpu_s:.1f} s of CPU in "
            f"{at_once.wall_s:.1f} s) while the sandbox used {at_once.server_cpu_s:.1f} s"
        )
    if bounded is not None:
        note += (
            f"; the same runs with ≤ {bounded.concurrency} in flight take "
            f"{fmt_seconds(bounded.cpu_per_run)} per run"
        )
    return note


def _failure_note(side: Side) -> str:
    note = f"{side.failures()}"
    if side.samples:
        ending, why = next(iter(sorted(side.samples.items())))
        note += f"; e.g. {ending}: {why if len(why) <= 240 else why[:240] + '…'}"
    return note


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def sandbox_options(config: ConcurrentConfig) -> Mapping[str, Any]:
    """The one-tool script at ``model_latency`` a turn; runs expire long after the timeout."""
    return {
        "multimail_settings": MultiMailSandboxSettings(settle_interval=None),
        "openai_settings": OpenAIEmulatorSettings(
            model_latency=config.model_latency,
            scripts={SCRIPT_NAME: SCRIPT},
            run_expiry_seconds=int(config.timeout) + 120,
        ),
    }


def measure(sandbox: Sandbox, config: ConcurrentConfig) -> Measured:
    """The library's client process (all at once, then bounded), then the baseline's."""
    sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject="Can we meet?", markdown="Thursday at 3?"
    )
    with openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0) as ai:
        assistant_id = str(
            create_assistant(ai, model=f"scripted:{SCRIPT_NAME}", mailbox_id=sandbox.mailbox_id).id
        )
    spec = ClientSpec(
        way=LIBRARY,
        runs=config.runs,
        threads=config.threads,
        timeout=config.timeout,
        in_flight=None,
        openai_url=sandbox.openai_url,
        multimail_url=sandbox.multimail_url,
        api_key=sandbox.keys["send"],
        mailbox_id=sandbox.mailbox_id,
        assistant_id=assistant_id,
    )
    sides = {
        AT_ONCE: _side(sandbox, spec),
        BOUNDED: _side(sandbox, dataclasses.replace(spec, in_flight=config.in_flight)),
        SDK: _side(sandbox, dataclasses.replace(spec, way=SDK)),
    }
    numbers = {
        "model_latency_s": config.model_latency,
        "cpu": "client: resource.getrusage(RUSAGE_SELF) in the client process, from the first "
        "request to the last answer; server: the same in the benchmark process (the sandbox)",
        "rss": "client: ru_maxrss of the client process (its whole life)",
        **{way: side.as_dict() for way, side in sides.items()},
    }
    return Measured(summarize_concurrent(sides[AT_ONCE], sides[SDK], sides[BOUNDED]), numbers)


def _side(sandbox: Sandbox, spec: ClientSpec) -> Side:
    """Run one client process to its end (or its timeout) and read its JSON line."""
    sandbox.openai.counters(reset=True)
    server_cpu = _cpu_seconds()
    finished = subprocess.run(
        [sys.executable, "-m", "bench.concurrent_client", json.dumps(dataclasses.asdict(spec))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=spec.timeout + 60,
        check=False,
    )
    server_cpu = _cpu_seconds() - server_cpu
    if finished.returncode != 0 or not finished.stdout.strip():
        raise RuntimeError(
            f"the {spec.way} client exited {finished.returncode}: {finished.stderr[-500:]}"
        )
    line = json.loads(finished.stdout.strip().splitlines()[-1])
    counters = sandbox.openai.counters()
    return Side(
        runs=int(line["runs"]),
        concurrency=int(line["concurrency"]),
        ends={str(end): int(n) for end, n in line["ends"].items()},
        lost=int(line["lost"]),
        wall_s=float(line["wall_s"]),
        cpu_s=float(line["cpu_s"]),
        max_rss_mb=float(line["max_rss_mb"]),
        samples={str(end): str(why) for end, why in line["samples"].items()},
        server_cpu_s=round(server_cpu, 3),
        runs_created=int(counters["routes"].get(CREATE_RUN, 0)),
        openai_requests=int(counters["total"]),
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


BENCHMARK = Benchmark(
    name="concurrent_runs",
    title="Many runs at once: one async driver process vs SDK helpers in 32 threads",
    quick=QUICK,
    full=FULL,
    sandbox_options=sandbox_options,
    measure=measure,
)
