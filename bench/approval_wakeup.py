"""Approval wake-up: how soon a held send's tool output is ready once a human decides.

A ``send_email`` call lands in the sandbox's ``gated_send`` mailbox and is held; a reviewer
approves it ``delay`` seconds after it was queued (3 s, and in the full run 30 s and 120 s).
Measured per wait: the latency from the moment the reviewer's decide call returns to the
moment the tool output is ready (``Dispatcher.dispatch`` returns, or the seed loop ends),
and the status GETs of the email (``GET /v1/mailboxes/{mailbox_id}/emails/{email_id}``)
spent waiting. Three ways to wait:

- the library with webhooks: an `ApprovalHub` given to the dispatcher, fed by a
  `WebhookReceiver` behind a real loopback endpoint the sandbox POSTs signed events to;
- the library polling: the default `ApprovalPolicy` schedule, no hub;
- the seeds' fixed 5-second poll (`seed_approval`).

Everything runs in real time: the library's waits follow the wall clock, so the sandbox
clock cannot shorten them. To fit the full run in minutes, the waits of one delay run side
by side (each on its own email, their starts 0.5 s apart, the three ways taking turns), and
the delays one after the other. The reviewer sees an email as queued when the sandbox's
held list first shows it (looked at every 5 ms) and decides through the sandbox's own
control, which makes no API request. The GETs are counted by each way and their sum checked
against the sandbox's request counter for that route, so no GET goes unseen. The loop that
does all this is `approval_waits`; this module sizes it, sets up the three ways and sums up.
Targets: webhooks p50 ≤ 50 ms with 0 status GETs; polling no more GETs than the seed loop,
and a lower p50.
"""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from bench.approval_waits import Runner, Wait, run_group
from bench.baselines import Account, seed_approval
from bench.harness import Benchmark, Measured, Row
from bench.stats import fmt_seconds, median
from mm_assistants import ApprovalHub, ApprovalPolicy, Dispatcher, MultiMailClient, ToolCall
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox
from mm_assistants.sandbox.serving import LoopbackServer
from mm_assistants.webhooks import WebhookReceiver
from mm_assistants.webhooks.starlette import webhook_route

HUB, POLL, SEED = "library + webhooks", "library polling", "seed 5 s poll"
VARIANTS = (HUB, POLL, SEED)
HUB_TARGET = 0.050
CLOCK = "real time"
DEFAULT_POLICY = ApprovalPolicy()
WEBHOOK_PATH = "/multimail/webhooks"
SEND = {"to": ["bob@example.com"], "markdown": "The numbers are attached."}


@dataclass(frozen=True)
class WakeupConfig:
    """For each of ``delays`` (seconds from queueing to the decision), ``repetitions``
    waits per way, started ``stagger`` seconds apart; a wait is given up ``slack`` seconds
    after its decision was due."""

    delays: tuple[float, ...]
    repetitions: int
    stagger: float
    slack: float


QUICK = WakeupConfig(delays=(3.0,), repetitions=3, stagger=0.5, slack=30.0)
FULL = WakeupConfig(delays=(3.0, 30.0, 120.0), repetitions=5, stagger=0.5, slack=30.0)


@dataclass(frozen=True)
class Waits:
    """The waits of one way at one delay."""

    latencies: Sequence[float]
    gets: Sequence[int]

    @property
    def p50(self) -> float:
        return median(self.latencies)

    @property
    def median_gets(self) -> float:
        return median([float(count) for count in self.gets])

    def text(self) -> str:
        gets = f"{self.median_gets:g} status GET{'' if self.median_gets == 1 else 's'}"
        if max(self.gets) != min(self.gets):
            gets += f" ({min(self.gets)} to {max(self.gets)})"
        return f"p50 {fmt_seconds(self.p50)} (max {fmt_seconds(max(self.latencies))}), {gets}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "latencies_s": [round(value, 4) for value in self.latencies],
            "status_gets": list(self.gets),
            "p50_s": round(self.p50, 4),
            "median_status_gets": self.median_gets,
        }


def group(waits: Sequence[Wait]) -> dict[float, dict[str, Waits]]:
    """The waits by delay, then by way."""
    delays = sorted({wait.delay for wait in waits})
    return {
        delay: {
            variant: Waits(
                [w.latency for w in waits if w.delay == delay and w.variant == variant],
                [w.status_gets for w in waits if w.delay == delay and w.variant == variant],
            )
            for variant in VARIANTS
        }
        for delay in delays
    }


def summarize_wakeup(
    waits: Sequence[Wait],
    *,
    policy: ApprovalPolicy = DEFAULT_POLICY,
    seed_interval: float = seed_approval.POLL_SECONDS,
    clock: str = CLOCK,
) -> tuple[Row, ...]:
    """Two rows per delay: webhooks against the seed loop, polling against the seed loop."""
    rows: list[Row] = []
    for delay, by_way in group(waits).items():
        hub, poll, seed = (by_way[name] for name in VARIANTS)
        name = f"approval wake-up, decided after {delay:g} s ({clock})"
        hub_fast = hub.p50 <= HUB_TARGET
        hub_quiet = max(hub.gets) == 0
        rows.append(
            Row(
                benchmark=f"{name}: webhooks vs seed 5 s poll",
                library=hub.text(),
                baseline=seed.text(),
                ratio=hub.p50 / seed.p50,
                target=f"p50 ≤ {HUB_TARGET * 1000:g} ms, 0 status GETs",
                met=hub_fast and hub_quiet,
                note=None if hub_fast and hub_quiet else _hub_note(hub, hub_fast, hub_quiet),
            )
        )
        fewer = poll.median_gets <= seed.median_gets
        sooner = poll.p50 < seed.p50
        rows.append(
            Row(
                benchmark=f"{name}: polling vs seed 5 s poll",
                library=poll.text(),
                baseline=seed.text(),
                ratio=poll.p50 / seed.p50,
                target="≤ the seed's status GETs, lower p50",
                met=fewer and sooner,
                note=None
                if fewer and sooner
                else _poll_note(delay, poll, seed, fewer, sooner, policy, seed_interval),
            )
        )
    return tuple(rows)


def look_times(policy: ApprovalPolicy, until: float) -> list[float]:
    """When the polling wait looks (seconds after the send), up to the first look at or
    after ``until``: the policy's growing schedule, as `ApprovalPolicy.delay` spaces it."""
    times: list[float] = []
    now = 0.0
    for looks in range(10_000):  # a bound, not a loop condition: the schedule always grows
        step = policy.delay(looks, now, math.inf)
        if step is None:
            break
        now += step
        times.append(now)
        if now >= until:
            break
    return times


def schedule_text(policy: ApprovalPolicy) -> str:
    """The polling schedule in words: its looks while they grow, then their spacing."""
    growing = []
    now = 0.0
    for looks in range(100):  # the spacing reaches max_interval long before this bound
        step = min(policy.first_delay * policy.multiplier**looks, policy.max_interval)
        if step >= policy.max_interval:
            break
        now += step
        growing.append(f"{now:.1f}")
    return f"at {', '.join(growing)} s after the send, then every {policy.max_interval:g} s"


def _hub_note(hub: Waits, fast: bool, quiet: bool) -> str:
    parts = []
    if not fast:
        parts.append(
            f"p50 {fmt_seconds(hub.p50)}: the decision travels from the sandbox's webhook "
            "outbox thread as a signed POST to the receiver, which publishes it to the hub; "
            "all of it shares one process and its GIL with the sandbox"
        )
    if not quiet:
        parts.append(
            f"up to {max(hub.gets)} status GETs: a wake-up was missed and the wait fell back "
            "to its check"
        )
    return "; ".join(parts)


def _poll_note(
    delay: float,
    poll: Waits,
    seed: Waits,
    fewer: bool,
    sooner: bool,
    policy: ApprovalPolicy,
    seed_interval: float,
) -> str:
    times = look_times(policy, delay)
    parts = []
    if not fewer:
        parts.append(
            f"{poll.median_gets:g} status GETs against the seed's {seed.median_gets:g}: the "
            f"default schedule looks early and often ({schedule_text(policy)}) while the seed "
            f"looks every {seed_interval:g} s"
        )
    if not sooner:
        before = max((t for t in times if t < delay), default=0.0)
        text = (
            f"the decision at {delay:g} s fell between looks at {before:.1f} s and "
            f"{times[-1]:.1f} s, so the output waited {fmt_seconds(poll.p50)}"
        )
        if math.isclose(delay % seed_interval, 0.0, abs_tol=1e-9):
            text += (
                f"; the seed's {seed_interval:g} s grid divides {delay:g} s, so one of its looks "
                f"fell just after the decision ({fmt_seconds(seed.p50)} later, as the looks "
                "drift by their own duration; a decision at a random moment "
                f"waits {seed_interval / 2:g} s for the seed on average, and "
                f"{policy.max_interval / 2:g} s for the library once its looks are "
                f"{policy.max_interval:g} s apart)"
            )
        parts.append(text)
    return "; ".join(parts)


def sandbox_options(config: WakeupConfig) -> Mapping[str, Any]:
    """Held at once (no scan delay); the settle task stays on so events fire by themselves."""
    return {"multimail_settings": MultiMailSandboxSettings(scan_delay=0.0)}


def measure(sandbox: Sandbox, config: WakeupConfig) -> Measured:
    """Every delay in turn: its waits side by side, decided on time by the reviewer."""
    account = Account(sandbox.multimail_url, sandbox.keys["send"], sandbox.mailbox_id)
    port, secret = _subscribe(sandbox)
    hub = ApprovalHub()
    app = Starlette(routes=[webhook_route(WebhookReceiver(secret, hub=hub), WEBHOOK_PATH)])
    waits: list[Wait] = []
    counted: dict[str, dict[str, int]] = {}
    with (
        LoopbackServer(app, port=port, name="bench-webhook-receiver"),
        MultiMailClient(api_key=account.api_key, base_url=account.base_url) as client,
    ):
        runners = {
            HUB: _library(Dispatcher(client, mailbox_id=account.mailbox_id, approval_hub=hub)),
            POLL: _library(Dispatcher(client, mailbox_id=account.mailbox_id)),
            SEED: _seed(account),
        }
        for delay in config.delays:
            found, gets = run_group(
                sandbox,
                runners,
                delay,
                repetitions=config.repetitions,
                stagger=config.stagger,
                slack=config.slack,
            )
            waits += found
            counted[f"{delay:g}"] = gets
    numbers = {
        "clock": CLOCK,
        "policy": f"{DEFAULT_POLICY!r}, max_wait = delay + {config.slack:g} s",
        "status_gets_checked": counted,
        "waits": {
            f"{delay:g}": {variant: ways.as_dict() for variant, ways in by_way.items()}
            for delay, by_way in group(waits).items()
        },
        "decided_after_s": {
            f"{delay:g}": round(median([w.decided_after for w in waits if w.delay == delay]), 4)
            for delay in config.delays
        },
    }
    return Measured(summarize_wakeup(waits), numbers)


def _library(dispatcher: Dispatcher) -> Runner:
    def run(subject: str, call_id: str, max_wait: float) -> tuple[str, int]:
        # the default schedule; only max_wait is bounded, so a lost decision cannot hang
        policy = ApprovalPolicy(max_wait=max_wait)
        arguments = json.dumps({**SEND, "subject": subject})
        result = dispatcher.dispatch(ToolCall(call_id, "send_email", arguments), approvals=policy)
        if result.approval is None:
            raise RuntimeError(f"the send was not held: {result.output[:300]}")
        return result.approval.decision, result.approval.status_checks

    return run


def _seed(account: Account) -> Runner:
    def run(subject: str, call_id: str, max_wait: float) -> tuple[str, int]:
        polls = math.ceil(max_wait / seed_approval.POLL_SECONDS)
        email, gets = seed_approval.send_and_wait(
            account, {**SEND, "subject": subject}, max_polls=polls
        )
        status = email.get("status")
        decided = status not in (*seed_approval.PENDING, "rejected", "cancelled", "send_failed")
        return ("approved" if decided else str(status)), gets

    return run


def _subscribe(sandbox: Sandbox) -> tuple[int, str]:
    """Subscribe a receiver-to-be on a free loopback port to the decision events: (port,
    secret). The subscription needs the URL before the receiver (which needs the secret)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    hook: dict[str, Any] = {
        "url": f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
        "events": ["oversight.approved", "oversight.rejected"],
    }
    headers = {"Authorization": f"Bearer {sandbox.keys['admin']}"}
    url = f"{sandbox.multimail_url}/v1/webhooks"
    httpx.post(url, json=hook, headers=headers, timeout=5)  # 202: a code for the operator
    hook["approval_code"] = sandbox.multimail.approval_code("create_webhook")
    response = httpx.post(url, json=hook, headers=headers, timeout=5)
    response.raise_for_status()
    return port, str(response.json()["signing_secret"])


BENCHMARK = Benchmark(
    name="approval_wakeup",
    title="Approval wake-up: decision → tool output ready, and status GETs spent waiting",
    quick=QUICK,
    full=FULL,
    sandbox_options=sandbox_options,
    measure=measure,
)
