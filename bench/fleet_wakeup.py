"""Fleet wake-up: a decision webhook received by a web process wakes a held send's wait in
a worker process, through PostgreSQL.

The web process is this one: a real `WebhookReceiver` behind a loopback endpoint the
sandbox POSTs signed ``oversight.*`` events to, feeding a fleet `ApprovalHub` (a
`PostgresDecisionStore` on a throwaway PostgreSQL). The worker is another process
(spawned) with its own fleet hub on the same database, ``check_interval=None`` (its waits
make no status request of their own), and a `Dispatcher` whose ``send_email`` lands in the
sandbox's ``gated_send`` mailbox and is held. For each repetition the worker sends, the
reviewer (this process) spots the email in the sandbox's held list, approves it ``delay``
seconds later through the sandbox's own control (which makes the sandbox POST the signed
event), and the latency runs from that decide call's return to the moment the worker's
``dispatch`` returned the tool output. Both ends read ``time.monotonic()``, one clock for
every process of a Linux machine (``CLOCK_MONOTONIC``).

Baseline, in the same run: the same with today's in-process hub (receiver and wait in this
one process). Status requests: the sandbox's counter of ``GET`` of the email, and each
wait's own count. Target: the fleet's p50 ≤ 50 ms with 0 status requests.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from bench.approval_waits import status_gets
from bench.fleet_support import Workers, free_port, report_errors, with_postgres
from bench.harness import Benchmark, Measured, Row
from bench.stats import fmt_seconds, median, percentile
from mm_assistants import ApprovalHub, ApprovalPolicy, Dispatcher, MultiMailClient, ToolCall
from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox
from mm_assistants.sandbox.serving import LoopbackServer
from mm_assistants.state.memory import MemorySeenStore
from mm_assistants.webhooks import WebhookReceiver
from mm_assistants.webhooks.starlette import webhook_route

FLEET, LOCAL = "fleet hub (web process → worker process)", "in-process hub"
TARGET = 0.050
SEND = {"to": ["bob@example.com"], "markdown": "The numbers are attached."}
LOOK_INTERVAL = 0.005  # how often the reviewer looks for the newly held email
WEBHOOK_PATH = "/multimail/webhooks"

#: ``send(subject, call_id, max_wait)`` starts one held send's wait; ``result(timeout)``
#: is the report of the wait that ended next.
Send = Callable[[str, str, float], None]
Result = Callable[[float], Mapping[str, Any]]


@dataclass(frozen=True)
class FleetWakeupConfig:
    """``repetitions`` waits per side, one after the other; each email is approved
    ``delay`` seconds after it shows in the held list; a wait is given up ``slack`` seconds
    after that."""

    repetitions: int
    delay: float
    slack: float


QUICK = FleetWakeupConfig(repetitions=10, delay=0.2, slack=20.0)
FULL = FleetWakeupConfig(repetitions=60, delay=0.2, slack=20.0)


@dataclass(frozen=True)
class Side:
    """The waits of one side: latencies (decide returned → output ready), the status
    GETs the waits counted, those the sandbox served, and how each wait was woken."""

    latencies: Sequence[float]
    counted_gets: int
    served_gets: int
    woken_by: Mapping[str, int]

    @property
    def p50(self) -> float:
        return median(self.latencies)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95)

    def text(self) -> str:
        return (
            f"p50 {fmt_seconds(self.p50)}, p95 {fmt_seconds(self.p95)} "
            f"(n={len(self.latencies)}), {self.served_gets} status GETs"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "latencies_s": [round(value, 5) for value in self.latencies],
            "p50_s": round(self.p50, 5),
            "p95_s": round(self.p95, 5),
            "status_gets_counted": self.counted_gets,
            "status_gets_served": self.served_gets,
            "woken_by": dict(self.woken_by),
        }


def summarize_fleet_wakeup(fleet: Side, local: Side) -> tuple[Row, ...]:
    """One row: the fleet hub across processes against the in-process hub."""
    fast = fleet.p50 <= TARGET
    quiet = fleet.served_gets == 0
    notes = []
    if not fast:
        notes.append(
            f"p50 {fmt_seconds(fleet.p50)}: the decision goes sandbox → signed POST → receiver "
            "→ INSERT + pg_notify → the worker's LISTEN connection → a read of the row → "
            "the wait; the sandbox, the receiver and PostgreSQL share this machine's cores"
        )
    if not quiet:
        notes.append(
            f"{fleet.served_gets} status GETs: a wait looked at MultiMail itself "
            f"(woken by {dict(fleet.woken_by)})"
        )
    return (
        Row(
            benchmark="fleet wake-up: decision webhook in the web process → output ready "
            "in a worker process",
            library=fleet.text(),
            baseline=f"{local.text()} ({LOCAL}, one process)",
            ratio=fleet.p50 / local.p50 if local.p50 > 0 else None,
            target=f"p50 ≤ {TARGET * 1000:g} ms, 0 status GETs",
            met=fast and quiet,
            note="; ".join(notes) or None,
        ),
    )


def sandbox_options(config: FleetWakeupConfig) -> Mapping[str, Any]:
    """Held at once (no scan delay); the settle task stays on so events fire by themselves."""
    return {"multimail_settings": MultiMailSandboxSettings(scan_delay=0.0)}


def measure(sandbox: Sandbox, config: FleetWakeupConfig, dsn: str) -> Measured:
    """The in-process side, then the fleet side, on one receiver endpoint."""
    from mm_assistants.state.postgres.decisions import PostgresDecisionStore

    local_hub = ApprovalHub()
    web_store = PostgresDecisionStore(dsn)
    web_hub = ApprovalHub(decisions=web_store)
    sides: dict[str, Side] = {}
    try:
        with MultiMailClient(api_key=sandbox.keys["send"], base_url=sandbox.multimail_url) as mm:
            dispatcher = Dispatcher(
                mm, mailbox_id=sandbox.mailbox_id, approval_hub=local_hub, audit=None
            )
            send, result = _in_process(dispatcher)
            sides[LOCAL] = _side(sandbox, local_hub, LOCAL, send, result, config)
        with Workers() as workers:
            commands = workers.context.Queue()
            spec = {
                "dsn": dsn,
                "multimail_url": sandbox.multimail_url,
                "api_key": sandbox.keys["send"],
                "mailbox_id": sandbox.mailbox_id,
                "idle": config.delay + config.slack + 30.0,
            }
            workers.start(worker_main, commands, spec, name="bench-fleet-worker")
            workers.expect("ready", timeout=60.0)

            def send_remote(subject: str, call_id: str, max_wait: float) -> None:
                commands.put({"subject": subject, "call_id": call_id, "max_wait": max_wait})

            def result_remote(timeout: float) -> Mapping[str, Any]:
                return workers.expect("done", timeout)

            sides[FLEET] = _side(sandbox, web_hub, FLEET, send_remote, result_remote, config)
            commands.put(None)
    finally:
        web_hub.close()
        web_store.database.close()
    numbers = {
        "clock": "time.monotonic() in both processes (CLOCK_MONOTONIC: one clock per machine)",
        "delay_s": config.delay,
        **{name: side.as_dict() for name, side in sides.items()},
    }
    return Measured(summarize_fleet_wakeup(sides[FLEET], sides[LOCAL]), numbers)


def _side(
    sandbox: Sandbox,
    hub: ApprovalHub,
    name: str,
    send: Send,
    result: Result,
    config: FleetWakeupConfig,
) -> Side:
    """A receiver feeding ``hub`` on a loopback port of its own, subscribed to the decision
    events for the time of this side's waits, which run one after the other."""
    port = free_port()
    webhook_id, secret = _subscribe(sandbox, f"http://127.0.0.1:{port}{WEBHOOK_PATH}")
    receiver = WebhookReceiver(secret, hub=hub, replay_guard=MemorySeenStore())
    app = Starlette(routes=[webhook_route(receiver, WEBHOOK_PATH)])
    before = status_gets(sandbox)
    latencies: list[float] = []
    counted = 0
    woken: dict[str, int] = {}
    try:
        with LoopbackServer(app, port=port, name=f"bench-web-{name[:5]}"):
            for index in range(config.repetitions):
                subject = f"{name} #{index}"
                # a call id of its own: the idempotency key follows it
                call_id = f"call_{'fleet' if name == FLEET else 'local'}_{index}"
                send(subject, call_id, config.delay + config.slack)
                decided_at = _review(sandbox, subject, config.delay, config.slack)
                report = result(config.slack + 10.0)
                if report["decision"] != "approved":
                    raise RuntimeError(f"the {name} wait ended {report['decision']!r}")
                latencies.append(float(report["done_at"]) - decided_at)
                counted += int(report["status_checks"])
                woken[str(report["woken_by"])] = woken.get(str(report["woken_by"]), 0) + 1
    finally:
        _unsubscribe(sandbox, webhook_id)
    return Side(latencies, counted, status_gets(sandbox) - before, woken)


def _review(sandbox: Sandbox, subject: str, delay: float, slack: float) -> float:
    """Spot the email of ``subject`` in the held list, approve it ``delay`` later; the
    moment the decide call returned."""
    end = time.monotonic() + slack
    while time.monotonic() < end:
        held = [e for e in sandbox.multimail.pending() if e.get("subject") == subject]
        if held:
            time.sleep(delay)
            sandbox.multimail.decide(str(held[0]["id"]), "approve")
            return time.monotonic()
        time.sleep(LOOK_INTERVAL)
    raise RuntimeError(f"{subject!r} was not held within {slack:g} s")


def _in_process(dispatcher: Dispatcher) -> tuple[Send, Result]:
    """The baseline's waits: threads of this process reporting on a local queue."""
    reports: queue.Queue[dict[str, Any]] = queue.Queue()

    def send(subject: str, call_id: str, max_wait: float) -> None:
        command = {"subject": subject, "call_id": call_id, "max_wait": max_wait}
        threading.Thread(
            target=_wait_one, args=(dispatcher, command, reports.put), daemon=True
        ).start()

    def result(timeout: float) -> Mapping[str, Any]:
        report = reports.get(timeout=timeout)
        if report["kind"] != "done":
            raise RuntimeError(f"the in-process wait failed: {report.get('error')}")
        return report

    return send, result


def _wait_one(
    dispatcher: Dispatcher, command: Mapping[str, Any], put: Callable[[dict[str, Any]], None]
) -> None:
    """Send one email and wait for its decision; report when the output was ready."""
    try:
        arguments = json.dumps({**SEND, "subject": command["subject"]})
        call = ToolCall(str(command["call_id"]), "send_email", arguments)
        outcome = dispatcher.dispatch(call, approvals=ApprovalPolicy(max_wait=command["max_wait"]))
        done_at = time.monotonic()
        if outcome.approval is None:
            raise RuntimeError(f"the send was not held: {outcome.output[:200]}")
        put(
            {
                "kind": "done",
                "done_at": done_at,
                "decision": outcome.approval.decision,
                "status_checks": outcome.approval.status_checks,
                "woken_by": outcome.approval.woken_by,
            }
        )
    except Exception as error:  # noqa: BLE001 -- reported to the side, which raises it
        put({"kind": "error", "error": f"{type(error).__name__}: {str(error)[:300]}"})


def worker_main(reports: Any, commands: Any, spec: Mapping[str, Any]) -> None:
    """The worker process: its own fleet hub on the database, waits that never poll."""

    def work() -> None:
        from mm_assistants.state.postgres.decisions import PostgresDecisionStore

        store = PostgresDecisionStore(spec["dsn"])
        hub = ApprovalHub(decisions=store, check_interval=None)
        try:
            with MultiMailClient(api_key=spec["api_key"], base_url=spec["multimail_url"]) as mm:
                dispatcher = Dispatcher(
                    mm, mailbox_id=spec["mailbox_id"], approval_hub=hub, audit=None
                )
                reports.put({"kind": "ready"})
                while True:
                    command = commands.get(timeout=spec["idle"])  # bounded: queue.Empty ends it
                    if command is None:
                        return
                    threading.Thread(
                        target=_wait_one, args=(dispatcher, command, reports.put), daemon=True
                    ).start()
        finally:
            hub.close()
            store.database.close()

    report_errors(reports, work)


def _subscribe(sandbox: Sandbox, url: str) -> tuple[str, str]:
    """Subscribe ``url`` to the decision events: (webhook id, signing secret)."""
    hook: dict[str, Any] = {"url": url, "events": ["oversight.approved", "oversight.rejected"]}
    headers = {"Authorization": f"Bearer {sandbox.keys['admin']}"}
    endpoint = f"{sandbox.multimail_url}/v1/webhooks"
    httpx.post(endpoint, json=hook, headers=headers, timeout=5)  # 202: a code for the operator
    hook["approval_code"] = sandbox.multimail.approval_code("create_webhook")
    response = httpx.post(endpoint, json=hook, headers=headers, timeout=5)
    response.raise_for_status()
    body = response.json()
    return str(body["id"]), str(body["signing_secret"])


def _unsubscribe(sandbox: Sandbox, webhook_id: str) -> None:
    httpx.delete(
        f"{sandbox.multimail_url}/v1/webhooks/{webhook_id}",
        headers={"Authorization": f"Bearer {sandbox.keys['admin']}"},
        timeout=5,
    ).raise_for_status()


TITLE = "Fleet wake-up: webhook in the web process → output ready in a worker process"
BENCHMARK = Benchmark(
    name="fleet_wakeup",
    title=TITLE,
    quick=QUICK,
    full=FULL,
    sandbox_options=sandbox_options,
    measure=with_postgres(TITLE, measure),
)
