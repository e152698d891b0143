"""OpenAI requests per completed run, and its end-to-end time, for four ways to drive it.

A scripted assistant takes two tool steps (``check_inbox``, then ``read_email`` of the
newest email) and then answers; the model "thinks" 300 ms per turn. Driven by the
library's `AssistantsRunDriver` (poll and stream modes), by the openai SDK's polling
helpers (`sdk_helpers`) and by the seeds' 1-second loop (`seed_loop`). Requests are
counted by the emulator, not by the clients; each count includes reading the reply
(``messages.list``) where the way needs it. The variants take turns, round by round.
Targets: stream ≤ 4 requests per run; poll fewer requests than the SDK helpers at equal or
lower end-to-end time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from bench.baselines import Account, sdk_helpers, seed_loop
from bench.harness import Benchmark, Measured, Row
from bench.stats import fmt_seconds, median
from bench.timing import bounded
from mm_assistants import (
    AssistantsRunDriver,
    Dispatcher,
    MultiMailClient,
    PollPolicy,
    create_assistant,
)
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox

SCRIPT_NAME = "bench-two-steps"
REPLY = "I read the newest email."
SCRIPT = [
    {"call": "check_inbox", "arguments": {"direction": "inbound", "limit": 5}},
    {"call": "read_email", "arguments": {"email_id": "{{outputs.check_inbox.emails.0.id}}"}},
    {"say": REPLY},
]
TURNS = 3
STREAM_LIMIT = 4
POLL, STREAM, SDK, SEED = "poll driver", "stream driver", "SDK helpers", "seed loop"
VARIANTS = (POLL, STREAM, SDK, SEED)
DEFAULT_POLL = PollPolicy()


@dataclass(frozen=True)
class RunsConfig:
    """``rounds`` rounds of one run per variant; ``model_latency`` seconds per model turn;
    the rounds stop after ``budget`` seconds whatever the count."""

    rounds: int
    model_latency: float
    budget: float


QUICK = RunsConfig(rounds=3, model_latency=0.3, budget=40.0)
FULL = RunsConfig(rounds=10, model_latency=0.3, budget=240.0)


@dataclass(frozen=True)
class Runs:
    """What the runs of one variant cost: OpenAI requests and seconds, run by run."""

    requests: Sequence[int]
    seconds: Sequence[float]

    @property
    def median_requests(self) -> float:
        return median([float(count) for count in self.requests])

    @property
    def median_seconds(self) -> float:
        return median(self.seconds)

    def text(self) -> str:
        return f"{self.median_requests:g} req, {fmt_seconds(self.median_seconds)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": list(self.requests),
            "seconds": [round(value, 3) for value in self.seconds],
            "median_requests": self.median_requests,
            "median_seconds": round(self.median_seconds, 3),
        }


def summarize_runs(runs: Mapping[str, Runs], *, model_latency: float) -> tuple[Row, ...]:
    """The rows: stream's count, poll against the SDK helpers, both against the seed loop."""
    poll, stream, sdk, seed = (runs[name] for name in VARIANTS)
    fewer = poll.median_requests < sdk.median_requests
    faster = poll.median_seconds <= sdk.median_seconds
    stream_met = stream.median_requests <= STREAM_LIMIT
    return (
        Row(
            benchmark="run: stream driver vs SDK helpers (requests)",
            library=stream.text(),
            baseline=sdk.text(),
            ratio=stream.median_requests / sdk.median_requests,
            target=f"≤ {STREAM_LIMIT} requests per run",
            met=stream_met,
            note=_unless(
                stream_met,
                f"{stream.median_requests:g} requests: a run of {TURNS} model turns needs "
                f"one create and {TURNS - 1} submits at the least",
            ),
        ),
        Row(
            benchmark="run: poll driver vs SDK helpers (requests)",
            library=poll.text(),
            baseline=sdk.text(),
            ratio=poll.median_requests / sdk.median_requests,
            target="fewer requests",
            met=fewer,
            note=_unless(fewer, _poll_note(poll, sdk, model_latency)),
        ),
        Row(
            benchmark="run: poll driver vs SDK helpers (end-to-end)",
            library=poll.text(),
            baseline=sdk.text(),
            ratio=poll.median_seconds / sdk.median_seconds,
            target="≤ 1.00x time",
            met=faster,
            note=_unless(
                faster,
                f"the poll driver took {fmt_seconds(poll.median_seconds)} against "
                f"{fmt_seconds(sdk.median_seconds)}",
            ),
        ),
        Row(
            benchmark="run: poll driver vs seed loop (end-to-end)",
            library=poll.text(),
            baseline=seed.text(),
            ratio=poll.median_seconds / seed.median_seconds,
            target=None,
            met=None,
        ),
        Row(
            benchmark="run: stream driver vs seed loop (end-to-end)",
            library=stream.text(),
            baseline=seed.text(),
            ratio=stream.median_seconds / seed.median_seconds,
            target=None,
            met=None,
        ),
    )


def _poll_note(poll: Runs, sdk: Runs, model_latency: float) -> str:
    """Why polling costs what it costs: looks per model turn on each side."""
    return (
        f"{poll.median_requests / TURNS:.1f} requests per model turn against the SDK's "
        f"{sdk.median_requests / TURNS:.1f}: each turn is a create or submit, then looks until "
        f"the {fmt_seconds(model_latency)} turn ends. The SDK looks at once, then every 1 s; "
        f"the poll driver waits {fmt_seconds(DEFAULT_POLL.first_interval)} first, growing "
        f"x{DEFAULT_POLL.multiplier:g}, so it too needs a second look. It is "
        f"{sdk.median_seconds / poll.median_seconds:.1f}x faster, not cheaper; fewer requests "
        "take the stream driver, or a server poll hint (openai-poll-after-ms) it follows"
    )


def _unless(met: bool, note: str) -> str | None:
    return None if met else note


def sandbox_options(config: RunsConfig) -> Mapping[str, Any]:
    """The two-step script, 300 ms per turn, and a run expiry that bounds every loop."""
    return {
        "multimail_settings": MultiMailSandboxSettings(settle_interval=None),
        "openai_settings": OpenAIEmulatorSettings(
            model_latency=config.model_latency,
            scripts={SCRIPT_NAME: SCRIPT},
            run_expiry_seconds=60,
        ),
    }


def measure(sandbox: Sandbox, config: RunsConfig) -> Measured:
    """Drive the same scripted run each way, round by round, counting at the emulator."""
    account = Account(sandbox.multimail_url, sandbox.keys["send"], sandbox.mailbox_id)
    sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject="Can we meet?", markdown="Thursday at 3?"
    )
    requests: dict[str, list[int]] = {name: [] for name in VARIANTS}
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with (
        openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0) as ai,
        MultiMailClient(api_key=account.api_key, base_url=account.base_url) as client,
    ):
        assistant_id = str(
            create_assistant(ai, model=f"scripted:{SCRIPT_NAME}", mailbox_id=account.mailbox_id).id
        )
        variants = _variants(ai, Dispatcher(client, mailbox_id=account.mailbox_id), account)
        for round_ in bounded(config.rounds, config.budget):
            order = VARIANTS[round_ % len(VARIANTS) :] + VARIANTS[: round_ % len(VARIANTS)]
            for name in order:
                thread_id = ai.beta.threads.create(messages=[{"role": "user", "content": "Go."}]).id
                sandbox.openai.counters(reset=True)
                started = time.perf_counter()
                status, text = variants[name](thread_id, assistant_id)
                seconds[name].append(time.perf_counter() - started)
                requests[name].append(int(sandbox.openai.counters()["total"]))
                if status != "completed" or text != REPLY:
                    raise RuntimeError(f"the {name} run ended {status!r} with {text!r}")
    runs = {name: Runs(requests[name], seconds[name]) for name in VARIANTS}
    numbers = {
        "model_latency_s": config.model_latency,
        "turns_per_run": TURNS,
        **{name: run.as_dict() for name, run in runs.items()},
    }
    return Measured(summarize_runs(runs, model_latency=config.model_latency), numbers)


Variant = Callable[[str, str], tuple[str, str]]


def _variants(ai: openai.OpenAI, dispatcher: Dispatcher, account: Account) -> dict[str, Variant]:
    poll = AssistantsRunDriver(ai, dispatcher, mode="poll")
    stream = AssistantsRunDriver(ai, dispatcher, mode="stream")

    def library(driver: AssistantsRunDriver) -> Variant:
        def drive(thread_id: str, assistant_id: str) -> tuple[str, str]:
            outcome = driver.run(thread_id, assistant_id)
            return outcome.status, outcome.text

        return drive

    def baseline(loop: Callable[..., tuple[Any, str]]) -> Variant:
        def drive(thread_id: str, assistant_id: str) -> tuple[str, str]:
            run, text = loop(ai, account, thread_id, assistant_id)
            return str(run.status), text

        return drive

    return {
        POLL: library(poll),
        STREAM: library(stream),
        SDK: baseline(sdk_helpers.run_with_helpers),
        SEED: baseline(seed_loop.run_until_complete),
    }


BENCHMARK = Benchmark(
    name="requests_per_run",
    title="OpenAI requests and end-to-end time per run (2 tool steps, 300 ms per model turn)",
    quick=QUICK,
    full=FULL,
    sandbox_options=sandbox_options,
    measure=measure,
)
