"""Dispatch overhead over loopback: `Dispatcher.dispatch` against the hand-written call.

Both sides send the same request to the same sandbox endpoint, each with its own
``httpx.Client`` of the same settings, interleaved call by call. The hand-written
``send_email`` sends the very body the library binds, idempotency key included, so the
server does the same work for both and the difference is the library's own. The mailbox
holds sends for approval; the dispatcher has no approval policy, so a send comes back
``pending_scan`` at once. Target: the library's median ≤ 1.10x the hand-written one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bench.baselines import Account, hand_call
from bench.harness import Benchmark, Measured, Row
from bench.stats import Summary, fmt_limit, fmt_seconds, summarize
from bench.timing import time_pair
from mm_assistants import Dispatcher, MultiMailClient, ToolCall, ToolResult
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox

TARGET_RATIO = 1.10
SEND_ARGUMENTS = {
    "to": ["bob@example.com"],
    "subject": "Benchmark",
    "markdown": "Hello from the dispatch benchmark.",
}


@dataclass(frozen=True)
class OverheadConfig:
    """``calls`` timed calls per tool and side, after ``warmup`` untimed ones; each tool's
    loop stops after ``budget`` seconds whatever the count."""

    calls: int
    warmup: int
    budget: float


QUICK = OverheadConfig(calls=300, warmup=20, budget=22.0)
FULL = OverheadConfig(calls=2000, warmup=50, budget=300.0)


def summarize_pair(
    tool: str, library: Summary, baseline: Summary, target: float = TARGET_RATIO
) -> Row:
    """The row of one tool: medians, p99s, the library's added time and the ratio."""
    ratio = library.median / baseline.median
    added = library.median - baseline.median
    met = ratio <= target
    note = None
    if not met:
        note = (
            f"the library adds {fmt_seconds(added)} per call (argument validation, binding, "
            f"output shaping, the audit record, its response reader) to a "
            f"{fmt_seconds(baseline.median)} call: {added / baseline.median:.0%} of what "
            "the in-process sandbox takes to answer; dispatch_in_process shows where it goes"
        )
    return Row(
        benchmark=f"dispatch {tool}, loopback",
        library=(
            f"{fmt_seconds(library.median)} median, p99 {fmt_seconds(library.p99)} "
            f"(+{fmt_seconds(added)})"
        ),
        baseline=f"{fmt_seconds(baseline.median)} median, p99 {fmt_seconds(baseline.p99)}",
        ratio=ratio,
        target=f"≤ {fmt_limit(target)}",
        met=met,
        note=note,
    )


def numbers_of(library: Summary, baseline: Summary) -> dict[str, Any]:
    """The JSON numbers of one tool."""
    return {
        "library": library.as_dict(),
        "baseline": baseline.as_dict(),
        "added_us": round((library.median - baseline.median) * 1e6, 1),
        "ratio": round(library.median / baseline.median, 4),
    }


def sandbox_options(config: OverheadConfig) -> Mapping[str, Any]:
    """No background settling: only the measured requests reach the server."""
    return {"multimail_settings": MultiMailSandboxSettings(settle_interval=None)}


def new_http() -> httpx.Client:
    """The client settings both sides share."""
    return httpx.Client(timeout=30.0)


def measure(sandbox: Sandbox, config: OverheadConfig) -> Measured:
    """Time ``send_email`` and ``read_email`` both ways and summarise them."""
    account = Account(sandbox.multimail_url, sandbox.keys["send"], sandbox.mailbox_id)
    inbound = sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject="Benchmark", markdown="Read me, many times."
    )
    with new_http() as library_http, new_http() as hand_http:
        client = MultiMailClient(
            api_key=account.api_key, base_url=account.base_url, http_client=library_http
        )
        dispatcher = Dispatcher(client, mailbox_id=account.mailbox_id)
        sides = {
            "send_email": _send_sides(dispatcher, hand_http, account),
            "read_email": _read_sides(dispatcher, hand_http, account, str(inbound["id"])),
        }
        rows: list[Row] = []
        numbers: dict[str, Any] = {}
        for tool, (library, baseline) in sides.items():
            library_times, baseline_times = time_pair(
                library, baseline, calls=config.calls, warmup=config.warmup, budget=config.budget
            )
            library_summary, baseline_summary = (
                summarize(library_times),
                summarize(baseline_times),
            )
            rows.append(summarize_pair(tool, library_summary, baseline_summary))
            numbers[tool] = numbers_of(library_summary, baseline_summary)
    numbers["baseline"] = "hand-written httpx call, same body, same client settings"
    return Measured(tuple(rows), numbers)


Sides = tuple[Callable[[int], object], Callable[[int], object]]


def _send_sides(dispatcher: Dispatcher, http: httpx.Client, account: Account) -> Sides:
    arguments = json.dumps(SEND_ARGUMENTS)

    def library(index: int) -> ToolResult:
        call = ToolCall(id=f"call_send_{index}", name="send_email", arguments=arguments)
        return expect_ok(dispatcher.dispatch(call))

    def baseline(index: int) -> str:
        body = {**SEND_ARGUMENTS, "idempotency_key": f"hand-send-{index}"}
        return hand_call.send_email(http, account, body)

    return library, baseline


def _read_sides(
    dispatcher: Dispatcher, http: httpx.Client, account: Account, email_id: str
) -> Sides:
    arguments = json.dumps({"email_id": email_id})

    def library(index: int) -> ToolResult:
        call = ToolCall(id=f"call_read_{index}", name="read_email", arguments=arguments)
        return expect_ok(dispatcher.dispatch(call))

    def baseline(index: int) -> str:
        return hand_call.read_email(http, account, email_id)

    return library, baseline


def expect_ok(result: ToolResult) -> ToolResult:
    """``result``, or a ``RuntimeError``: a refused or failed call would time an error
    path, so the benchmark stops rather than report it."""
    if not result.ok:
        raise RuntimeError(f"{result.name} failed during the benchmark: {result.output[:300]}")
    return result


BENCHMARK = Benchmark(
    name="dispatch_overhead",
    title="Dispatch overhead over loopback (library vs hand-written httpx call)",
    quick=QUICK,
    full=FULL,
    sandbox_options=sandbox_options,
    measure=measure,
)
