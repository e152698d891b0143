"""Parallel tool calls: one step of 8 calls against an endpoint with 100 ms of latency.

`Dispatcher.dispatch_many` against the seeds' sequential loop (`seed_loop.call_multimail`
for each call in turn), and against one library call alone. The sandbox's fault injector
adds the latency to every MultiMail request. Targets: the step's wall time ≤ 1.3x one
call's, which is ≥ 6x faster than the sequential loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.baselines import Account, seed_loop
from bench.dispatch_overhead import expect_ok
from bench.harness import Benchmark, Measured, Row
from bench.stats import Summary, fmt_limit, fmt_seconds, summarize
from bench.timing import bounded
from mm_assistants import Dispatcher, MultiMailClient, ToolCall, ToolResult
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox

TARGET_OF_ONE = 1.3
TARGET_SPEEDUP = 6.0


@dataclass(frozen=True)
class ParallelConfig:
    """``rounds`` timed rounds (one call, the step, the sequential loop) after ``warmup``
    untimed ones, ``calls`` per step, ``latency`` seconds added to each request; the loop
    stops after ``budget`` seconds whatever the count."""

    rounds: int
    warmup: int
    calls: int
    latency: float
    budget: float


QUICK = ParallelConfig(rounds=6, warmup=1, calls=8, latency=0.1, budget=20.0)
FULL = ParallelConfig(rounds=30, warmup=2, calls=8, latency=0.1, budget=120.0)


def summarize_parallel(
    one: Summary, step: Summary, sequential: Summary, *, calls: int, max_concurrency: int
) -> tuple[Row, Row]:
    """The step against one call, and against the sequential loop."""
    of_one = step.median / one.median
    speedup = sequential.median / step.median
    step_text = f"{fmt_seconds(step.median)} for {calls} calls"
    first = Row(
        benchmark=f"{calls} parallel calls vs 1 call",
        library=step_text,
        baseline=f"{fmt_seconds(one.median)} for 1 call",
        ratio=of_one,
        target=f"≤ {fmt_limit(TARGET_OF_ONE)}",
        met=of_one <= TARGET_OF_ONE,
        note=None
        if of_one <= TARGET_OF_ONE
        else (
            f"the {calls} calls overlapped only in part (max_concurrency={max_concurrency}): "
            f"{fmt_seconds(step.median - one.median)} more than one call, spent starting "
            "worker threads and connections and in the server's serialised database work"
        ),
    )
    second = Row(
        benchmark=f"{calls} parallel calls vs seed sequential loop",
        library=f"{step_text} ({speedup:.1f}x faster)",
        baseline=f"{fmt_seconds(sequential.median)} sequential",
        ratio=step.median / sequential.median,
        target=f"≥ {TARGET_SPEEDUP:g}x faster",
        met=speedup >= TARGET_SPEEDUP,
        note=None
        if speedup >= TARGET_SPEEDUP
        else f"only {speedup:.1f}x faster: the step took {of_one:.2f}x one call's time",
    )
    return first, second


def sandbox_options(config: ParallelConfig) -> Mapping[str, Any]:
    """No background settling: only the measured requests reach the server."""
    return {"multimail_settings": MultiMailSandboxSettings(settle_interval=None)}


def measure(sandbox: Sandbox, config: ParallelConfig) -> Measured:
    """Time one call, the parallel step and the sequential loop, round by round."""
    account = Account(sandbox.multimail_url, sandbox.keys["send"], sandbox.mailbox_id)
    email_ids = [
        str(
            sandbox.multimail.inject_inbound(
                sender="ana@customer.example", subject=f"Question {n}", markdown="Thursday?"
            )["id"]
        )
        for n in range(config.calls)
    ]
    sandbox.faults.add("*", latency=config.latency)
    arguments = [json.dumps({"email_id": email_id}) for email_id in email_ids]
    one, step, sequential = [], [], []
    with MultiMailClient(api_key=account.api_key, base_url=account.base_url) as client:
        dispatcher = Dispatcher(client, mailbox_id=account.mailbox_id)

        def calls(round_: int) -> list[ToolCall]:
            return [
                ToolCall(f"call_{round_}_{k}", "read_email", text)
                for k, text in enumerate(arguments)
            ]

        for round_ in range(config.warmup):
            _ok(dispatcher.dispatch_many(calls(-1 - round_)))
        before = sandbox.counters.snapshot()["total"]
        for round_ in bounded(config.rounds, config.budget):
            started = time.perf_counter()
            _ok([dispatcher.dispatch(calls(round_)[0])])
            one.append(time.perf_counter() - started)
            started = time.perf_counter()
            _ok(dispatcher.dispatch_many(calls(round_)))
            step.append(time.perf_counter() - started)
            started = time.perf_counter()
            for email_id in email_ids:
                json.dumps(seed_loop.call_multimail(account, "read_email", {"email_id": email_id}))
            sequential.append(time.perf_counter() - started)
        served = sandbox.counters.snapshot()["total"] - before
    summaries = summarize(one), summarize(step), summarize(sequential)
    rows = summarize_parallel(
        *summaries, calls=config.calls, max_concurrency=dispatcher.max_concurrency
    )
    numbers = {
        "latency_s": config.latency,
        "rounds": len(step),
        "requests_served": served,
        "requests_expected": len(step) * (1 + 2 * config.calls),
        "one_call": summaries[0].as_dict(),
        "parallel_step": summaries[1].as_dict(),
        "sequential_loop": summaries[2].as_dict(),
        "speedup_vs_sequential": round(summaries[2].median / summaries[1].median, 2),
    }
    return Measured(rows, numbers)


def _ok(results: list[ToolResult]) -> None:
    for result in results:
        expect_ok(result)


BENCHMARK = Benchmark(
    name="parallel_calls",
    title="Parallel tool calls: 8 calls, 100 ms latency each (dispatch_many vs sequential)",
    quick=QUICK,
    full=FULL,
    sandbox_options=sandbox_options,
    measure=measure,
)
