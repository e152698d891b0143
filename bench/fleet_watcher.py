"""Fleet watcher: MultiMail requests per minute while many held emails are waited on.

``held`` emails (1,000; quick: 100) sit in the sandbox's ``gated_send`` mailbox, each the
``send_email`` of a wait in one of ``processes`` worker processes (4, spawned; each drives
its share of the waits on one event loop with an `AsyncDispatcher`). Nothing is decided
while the requests are counted. Two ways to wait, one after the other on the same sandbox:

- fleet watcher: the waits hold a fleet `ApprovalHub` (PostgreSQL) with
  ``check_interval=None``, so they make no status request of their own; their pending
  records are in a `PostgresPendingStore`, and every process runs one `FleetWatcher`
  sweep loop (every second) on shared `PostgresMailboxChecks` rows: whichever process
  claims the mailbox's row lists its held mail, every page of it;
- per-wait polling: today's default, the default `ApprovalPolicy` schedule and no hub:
  every wait GETs its own email, the looks growing apart up to ``max_interval``.

The requests are read from the sandbox's counters (every MultiMail route: list pages,
status GETs, anything else) over ``window`` seconds that start ``warmup`` seconds after the
last email was held, and extrapolated to a minute. After each side the workers are stopped
and the held emails rejected through the sandbox's control (no API request), so the next
side starts from an empty held list. Target: the fleet watcher ≤ 1 % of per-wait polling.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.fleet_support import Workers, difference, multimail_requests, with_postgres
from bench.harness import Benchmark, Measured, Row
from mm_assistants import ApprovalHub, ApprovalPolicy, ToolCall
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox

FLEET, POLLING = "fleet watcher", "per-wait polling"
TARGET = 0.01
DEFAULT_POLICY = ApprovalPolicy()
SEND = {"to": ["bob@example.com"], "markdown": "Held for the fleet watcher benchmark."}
SWEEP_EVERY = 1.0  # seconds between one process's sweeps (FleetWatcher.run_forever's default)


@dataclass(frozen=True)
class FleetWatcherConfig:
    """``held`` emails waited on by ``processes`` worker processes; requests counted over
    ``window`` seconds starting ``warmup`` seconds after the last email was held."""

    held: int
    processes: int
    warmup: float
    window: float
    setup_timeout: float


QUICK = FleetWatcherConfig(held=100, processes=4, warmup=2.0, window=10.0, setup_timeout=60.0)
FULL = FleetWatcherConfig(held=1000, processes=4, warmup=25.0, window=60.0, setup_timeout=180.0)


@dataclass(frozen=True)
class Side:
    """One way of waiting: the requests of the window by route, its length, and what the
    workers said of their waits (and, for the fleet, of their sweeps)."""

    held: int
    window_s: float
    requests: Mapping[str, int]
    still_held: int
    workers: Mapping[str, int]

    @property
    def total(self) -> int:
        return int(self.requests.get("total", 0))

    @property
    def per_minute(self) -> float:
        return self.total * 60.0 / self.window_s

    def text(self) -> str:
        return (
            f"{self.per_minute:,.0f} requests/min ({self.total} in {self.window_s:.0f} s, "
            f"{self.held} held emails)"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "held": self.held,
            "window_s": round(self.window_s, 2),
            "requests": dict(self.requests),
            "requests_per_minute": round(self.per_minute, 1),
            "still_held_after": self.still_held,
            "workers": dict(self.workers),
        }


def summarize_fleet_watcher(
    fleet: Side, polling: Side, config: FleetWatcherConfig
) -> tuple[Row, ...]:
    """One row: the fleet watcher's requests per minute against per-wait polling's."""
    ratio = fleet.per_minute / polling.per_minute if polling.per_minute > 0 else None
    met = ratio is not None and ratio <= TARGET
    untouched = fleet.still_held == fleet.held and polling.still_held == polling.held
    note = None
    if not met:
        note = (
            f"{fleet.total} fleet requests against {polling.total} in {fleet.window_s:.0f} s: "
            "a fleet look lists every page of the held mail (100 a page), and its interval "
            "backs off from 5 s to 120 s only while nothing changes"
        )
    if not untouched:
        note = (note + "; " if note else "") + (
            f"an email was decided during the window ({fleet.still_held} and "
            f"{polling.still_held} of {fleet.held} still held)"
        )
    return (
        Row(
            benchmark=f"fleet watcher: {fleet.held} held emails in one mailbox, waited on by "
            f"runs in {config.processes} processes, MultiMail requests per minute",
            library=fleet.text(),
            baseline=f"{polling.text()} ({POLLING}, default ApprovalPolicy)",
            ratio=ratio,
            target=f"≤ {TARGET:.0%} of per-wait polling",
            met=met and untouched,
            note=note,
        ),
    )


def sandbox_options(config: FleetWatcherConfig) -> Mapping[str, Any]:
    """Held at once (no scan delay); no webhooks are subscribed: the watcher is the way."""
    return {"multimail_settings": MultiMailSandboxSettings(scan_delay=0.0)}


def measure(sandbox: Sandbox, config: FleetWatcherConfig, dsn: str) -> Measured:
    """The fleet side, then per-wait polling, on the same sandbox and mailbox."""
    sides = {name: _side(sandbox, config, dsn, name) for name in (FLEET, POLLING)}
    numbers = {
        "policy": repr(DEFAULT_POLICY),
        "sweep_every_s": SWEEP_EVERY,
        "warmup_s": config.warmup,
        **{name: side.as_dict() for name, side in sides.items()},
    }
    return Measured(summarize_fleet_watcher(sides[FLEET], sides[POLLING], config), numbers)


def _side(sandbox: Sandbox, config: FleetWatcherConfig, dsn: str, name: str) -> Side:
    """Start the workers, wait until every email is held, count a window, stop, clean up."""
    shares = [config.held // config.processes] * config.processes
    shares[0] += config.held - sum(shares)
    totals: dict[str, int] = {}
    try:
        with Workers() as workers:
            stop = workers.context.Event()
            for index, share in enumerate(shares):
                spec = {
                    "side": name,
                    "index": index,
                    "share": share,
                    "dsn": dsn,
                    "multimail_url": sandbox.multimail_url,
                    "api_key": sandbox.keys["send"],
                    "mailbox_id": sandbox.mailbox_id,
                    "life": config.setup_timeout + config.warmup + config.window + 60.0,
                }
                workers.start(worker_main, stop, spec, name=f"bench-watcher-{index}")
            _until_held(sandbox, config.held, config.setup_timeout)
            time.sleep(config.warmup)
            before = multimail_requests(sandbox)
            began = time.monotonic()
            time.sleep(config.window)
            after = multimail_requests(sandbox)
            window = time.monotonic() - began
            still_held = len(sandbox.multimail.pending())
            stop.set()
            for _ in shares:
                report = workers.expect("totals", timeout=30.0)
                for key, value in report["totals"].items():
                    totals[key] = totals.get(key, 0) + int(value)
    finally:
        for email in sandbox.multimail.pending():  # the next side starts from none held
            sandbox.multimail.decide(str(email["id"]), "reject", "benchmark side over")
    requests = difference(after, before)
    requests.setdefault("total", 0)
    return Side(config.held, window, requests, still_held, totals)


def _until_held(sandbox: Sandbox, held: int, timeout: float) -> None:
    end = time.monotonic() + timeout
    while len(sandbox.multimail.pending()) < held:
        if time.monotonic() > end:
            raise RuntimeError(f"fewer than {held} emails were held within {timeout:g} s")
        time.sleep(0.2)


def worker_main(reports: Any, stop: Any, spec: Mapping[str, Any]) -> None:
    """One worker process: its share of the waits (and, for the fleet, a sweep loop)."""
    try:
        asyncio.run(_worker(reports, stop, spec))
    except BaseException as error:  # reported to the parent, then raised again
        reports.put({"kind": "error", "error": f"{type(error).__name__}: {str(error)[:300]}"})
        raise


async def _worker(reports: Any, stop: Any, spec: Mapping[str, Any]) -> None:
    from mm_assistants import AsyncDispatcher, AsyncMultiMailClient, MultiMailClient

    fleet = spec["side"] == FLEET
    totals: dict[str, int] = {"waits": spec["share"]}
    closing: list[Any] = []
    hub: ApprovalHub | None = None
    pending: Any = None
    sweeping = threading.Event()
    sweeper: threading.Thread | None = None
    if fleet:
        from mm_assistants.approvals.fleet_watcher import FleetWatcher
        from mm_assistants.state.postgres.checks import PostgresMailboxChecks
        from mm_assistants.state.postgres.connection import PostgresDatabase
        from mm_assistants.state.postgres.decisions import PostgresDecisionStore
        from mm_assistants.state.postgres.pending import PostgresPendingStore

        database = PostgresDatabase(spec["dsn"])
        closing.append(database)
        hub = ApprovalHub(decisions=PostgresDecisionStore(database), check_interval=None)
        closing.append(hub)
        pending = PostgresPendingStore(database)
        reader = MultiMailClient(api_key=spec["api_key"], base_url=spec["multimail_url"])
        closing.append(reader)
        watcher = FleetWatcher(reader, pending, PostgresMailboxChecks(database), hub)
        sweeper = threading.Thread(
            target=_sweep_loop, args=(watcher, sweeping, totals), name="bench-sweeps"
        )
        sweeper.start()
    try:
        async with AsyncMultiMailClient(
            api_key=spec["api_key"], base_url=spec["multimail_url"]
        ) as client:
            dispatcher = AsyncDispatcher(
                client,
                mailbox_id=spec["mailbox_id"],
                approval_hub=hub,
                approval_store=pending,
                audit=None,
            )
            waits = [
                asyncio.ensure_future(
                    dispatcher.dispatch(
                        _send(spec["side"], spec["index"], n), approvals=DEFAULT_POLICY
                    )
                )
                for n in range(spec["share"])
            ]
            # bounded: the parent sets stop; a parent that died is outlived by `life` at most
            await asyncio.to_thread(stop.wait, spec["life"])
            ended = sum(1 for wait in waits if wait.done())
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        totals["ended_before_stop"] = ended
    finally:
        sweeping.set()
        if sweeper is not None:
            sweeper.join(10.0)
        for thing in reversed(closing):
            thing.close()
    reports.put({"kind": "totals", "totals": totals})


def _send(side: str, worker: int, n: int) -> ToolCall:
    subject = f"{side} w{worker} #{n}"
    # a call id of its own per side: the idempotency key follows it
    call_id = f"call_{'fleet' if side == FLEET else 'poll'}_{worker}_{n}"
    return ToolCall(call_id, "send_email", json.dumps({**SEND, "subject": subject}))


def _sweep_loop(watcher: Any, stop: threading.Event, totals: dict[str, int]) -> None:
    """`FleetWatcher.run_forever`, keeping the sweeps' reports for the totals."""
    while not stop.is_set():
        try:
            report = watcher.sweep()
        except Exception:  # noqa: BLE001 -- counted; the loop goes on like run_forever's
            totals["sweep_errors"] = totals.get("sweep_errors", 0) + 1
        else:
            totals["sweeps"] = totals.get("sweeps", 0) + 1
            for key in ("mailboxes", "pages", "fetches", "published", "errors"):
                totals[key] = totals.get(key, 0) + int(getattr(report, key))
        stop.wait(SWEEP_EVERY)


TITLE = "Fleet watcher: MultiMail requests per minute, fleet watcher vs per-wait polling"
BENCHMARK = Benchmark(
    name="fleet_watcher",
    title=TITLE,
    quick=QUICK,
    full=FULL,
    sandbox_options=sandbox_options,
    measure=with_postgres(TITLE, measure),
)
