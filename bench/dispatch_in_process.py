"""The library's in-process cost per call, with no network: both sides over one
``httpx.MockTransport`` that replays answers recorded from the sandbox.

The added time (library median - hand-written median) is what validation, binding,
shaping, the audit record and the client layer cost on the CPU. It is split into parts
measured alone: ``prepare`` (parse, schema, scope, binding), ``succeed`` (shaping and the
audit record), ``audit`` (the default log sink's share of ``succeed``) and ``client``
(`MultiMailClient.send` - the hand-written call). Target: ≤ 60 µs added per call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bench.baselines import Account, hand_call
from bench.dispatch_overhead import SEND_ARGUMENTS, expect_ok, numbers_of
from bench.harness import Benchmark, Measured, Row
from bench.stats import Summary, fmt_seconds, median, summarize
from bench.timing import time_each, time_pair
from mm_assistants import Dispatcher, MultiMailClient, ToolCall, ToolResult
from mm_assistants.dispatch.core import PreparedCall
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox

TARGET_ADDED = 60e-6
PART_NAMES = {
    "prepare": "prepare (parse, schema, scope, binding)",
    "succeed": "succeed (shaping, bounding, audit record)",
    "audit": "the default audit log sink (inside succeed)",
    "client": "MultiMailClient.send over the hand-written call",
}


@dataclass(frozen=True)
class InProcessConfig:
    """``calls`` timed calls per tool and side (and per part), ``warmup`` untimed ones;
    each loop stops after ``budget`` seconds whatever the count."""

    calls: int
    warmup: int
    budget: float


QUICK = InProcessConfig(calls=2000, warmup=100, budget=4.0)
FULL = InProcessConfig(calls=10_000, warmup=200, budget=30.0)


def summarize_in_process(
    tool: str,
    library: Summary,
    baseline: Summary,
    parts: Mapping[str, float],
    limit: float = TARGET_ADDED,
) -> Row:
    """The row of one tool: the added time against ``limit``; the note names the parts."""
    added = library.median - baseline.median
    met = added <= limit
    note = None
    if not met:
        largest = sorted(parts.items(), key=lambda item: item[1], reverse=True)
        listed = ", ".join(f"{PART_NAMES.get(k, k)} {fmt_seconds(v)}" for k, v in largest)
        note = f"{fmt_seconds(added)} added per call; measured alone: {listed}"
    return Row(
        benchmark=f"dispatch {tool}, in-process (MockTransport)",
        library=f"+{fmt_seconds(added)} per call ({fmt_seconds(library.median)} in all)",
        baseline=f"{fmt_seconds(baseline.median)} hand-written call",
        ratio=library.median / baseline.median,
        target=f"≤ {fmt_seconds(limit)} added",
        met=met,
        note=note,
    )


def sandbox_options(config: InProcessConfig) -> Mapping[str, Any]:
    """The sandbox is only asked once per tool, for the answers to replay."""
    return {"multimail_settings": MultiMailSandboxSettings(settle_interval=None)}


def measure(sandbox: Sandbox, config: InProcessConfig) -> Measured:
    """Record one real answer per tool, then time both sides against their replay."""
    account = Account(sandbox.multimail_url, sandbox.keys["send"], sandbox.mailbox_id)
    email_id, answers = _record_answers(sandbox, account)

    def replay(request: httpx.Request) -> httpx.Response:
        status, content = answers[request.method]
        return httpx.Response(status, content=content, headers={"Content-Type": "application/json"})

    transport = httpx.MockTransport(replay)
    mock = account._replace(base_url="http://multimail.test")
    rows: list[Row] = []
    numbers: dict[str, Any] = {}
    with (
        httpx.Client(transport=transport) as library_http,
        httpx.Client(transport=transport) as hand_http,
    ):
        client = MultiMailClient(
            api_key=mock.api_key, base_url=mock.base_url, http_client=library_http
        )
        dispatcher = Dispatcher(client, mailbox_id=mock.mailbox_id)
        unaudited = Dispatcher(client, mailbox_id=mock.mailbox_id, audit=None)
        cases: dict[str, tuple[str, Callable[[int], object]]] = {
            "send_email": (
                json.dumps(SEND_ARGUMENTS),
                lambda i: hand_call.send_email(
                    hand_http, mock, {**SEND_ARGUMENTS, "idempotency_key": f"hand-{i}"}
                ),
            ),
            "read_email": (
                json.dumps({"email_id": email_id}),
                lambda i: hand_call.read_email(hand_http, mock, email_id),
            ),
        }
        for tool, (arguments, baseline) in cases.items():

            def library(index: int, tool: str = tool, arguments: str = arguments) -> ToolResult:
                return expect_ok(dispatcher.dispatch(ToolCall(f"call_{index}", tool, arguments)))

            library_times, baseline_times = time_pair(
                library, baseline, calls=config.calls, warmup=config.warmup, budget=config.budget
            )
            library_summary, baseline_summary = summarize(library_times), summarize(baseline_times)
            parts = _parts(dispatcher, unaudited, tool, arguments, baseline, config)
            rows.append(summarize_in_process(tool, library_summary, baseline_summary, parts))
            numbers[tool] = {
                **numbers_of(library_summary, baseline_summary),
                "parts_us": {name: round(value * 1e6, 1) for name, value in parts.items()},
            }
    return Measured(tuple(rows), numbers)


def _record_answers(sandbox: Sandbox, account: Account) -> tuple[str, dict[str, tuple[int, bytes]]]:
    """An inbound email's id, and the sandbox's real answers by method: a send, a read."""
    email_id = str(
        sandbox.multimail.inject_inbound(
            sender="ana@customer.example", subject="Benchmark", markdown="Read me, many times."
        )["id"]
    )
    prefix = f"{account.base_url}/v1/mailboxes/{account.mailbox_id}"
    headers = {"Authorization": f"Bearer {account.api_key}"}
    with httpx.Client(timeout=30.0, headers=headers) as http:
        sent = http.post(f"{prefix}/send", json={**SEND_ARGUMENTS, "idempotency_key": "record"})
        read = http.get(f"{prefix}/emails/{email_id}")
    answers = {}
    for method, response in (("POST", sent), ("GET", read)):
        response.raise_for_status()
        answers[method] = (response.status_code, response.content)
    return email_id, answers


def _parts(
    dispatcher: Dispatcher,
    unaudited: Dispatcher,
    tool: str,
    arguments: str,
    baseline: Callable[[int], object],
    config: InProcessConfig,
) -> dict[str, float]:
    """Median seconds of each part of a dispatch, timed alone."""
    prepared = dispatcher.prepare(ToolCall("call_parts", tool, arguments))
    if not isinstance(prepared, PreparedCall):
        raise RuntimeError(f"{tool} was refused during the benchmark: {prepared.output[:300]}")
    answer = dispatcher.client.send(prepared.request)
    calls, warmup, budget = config.calls, config.warmup, config.budget / 4

    def alone(call: Callable[[int], object]) -> float:
        return median(time_each(call, calls=calls, warmup=warmup, budget=budget))

    def difference(first: Callable[[int], object], second: Callable[[int], object]) -> float:
        # Paired and interleaved: the median of per-round differences shrugs off noise
        # that two separate medians would each catch differently.
        a, b = time_pair(first, second, calls=calls, warmup=warmup, budget=budget)
        return median([x - y for x, y in zip(a, b, strict=True)])

    return {
        "prepare": alone(lambda i: dispatcher.prepare(ToolCall(f"call_{i}", tool, arguments))),
        "succeed": alone(lambda i: dispatcher.succeed(prepared, answer.status, answer.data)),
        "audit": difference(
            lambda i: dispatcher.succeed(prepared, answer.status, answer.data),
            lambda i: unaudited.succeed(prepared, answer.status, answer.data),
        ),
        "client": difference(lambda i: dispatcher.client.send(prepared.request), baseline),
    }


BENCHMARK = Benchmark(
    name="dispatch_in_process",
    title="Dispatch in-process cost (library vs hand-written call, both over MockTransport)",
    quick=QUICK,
    full=FULL,
    sandbox_options=sandbox_options,
    measure=measure,
)
