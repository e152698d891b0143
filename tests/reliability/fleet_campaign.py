"""The Celery fleet's reliability campaign: runs through real ``celery worker`` processes
while a chaos thread SIGKILLs pool children and main worker processes at random moments
(restarting them) and restarts Redis once mid-way; then every run is checked from the
sandbox's own records.

Forbidden (must be 0): an inbound email answered by two replies (an email sent twice), an
inbound email's notice posted twice into one conversation, a run lost (no reply, or a
reply whose decision never reached its end). Allowed and counted: re-run model turns and
extra task executions. Measured: the time from a kill that interrupted a task to a task on
the same key starting in another process (``TASK`` lines, `celery_fleet`).

`run_campaign` is the whole thing; the slice (`tests/reliability/test_fleet_slice.py`) and
``make reliability`` call it with different sizes.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from mm_assistants.sandbox import Sandbox
from tests.reliability.celery_fleet import CeleryFleet, ReplyModel, replies, sandbox_options

#: A reply that ended: delivered (the sandbox, like MultiMail, shows it as ``read``) or
#: rejected by the operator.
FINAL = ("read", "sent", "delivered", "rejected")
EXPECTED_TURNS = 2  # the reply_email turn and the closing message


@dataclass(frozen=True)
class Size:
    """How big a campaign is: runs, workers, kills of each kind, a broker restart."""

    runs: int
    workers: int
    child_kills: int
    main_kills: int
    broker_restarts: int
    timeout: float


SLICE = Size(runs=10, workers=2, child_kills=1, main_kills=0, broker_restarts=0, timeout=150)
FULL = Size(runs=200, workers=3, child_kills=6, main_kills=6, broker_restarts=1, timeout=900)


@dataclass
class Kill:
    """One fault the chaos thread caused."""

    kind: str  # "child" | "main" | "broker"
    at: float
    pid: int | None = None


@dataclass
class Findings:
    """What a campaign found (the test asserts the forbidden counts are 0)."""

    runs: int
    ended: int = 0
    lost: list[str] = field(default_factory=list)
    sent_twice: list[str] = field(default_factory=list)
    posted_twice: list[str] = field(default_factory=list)
    rerun_turns: int = 0
    extra_tasks: int = 0
    busy_exits: int = 0
    kills: list[Kill] = field(default_factory=list)
    recoveries: list[float] = field(default_factory=list)  # seconds, kill -> resumed elsewhere
    seconds: float = 0.0

    def summary(self) -> str:
        kinds = Counter(k.kind for k in self.kills)
        rec = self.recoveries
        timing = (
            f"kill -> resumed elsewhere p50 {statistics.median(rec):.2f} s, max {max(rec):.2f} s"
            f" (n={len(rec)})"
            if rec
            else "no kill interrupted a task"
        )
        return (
            f"{self.ended}/{self.runs} runs ended explicitly in {self.seconds:.0f} s; "
            f"lost {len(self.lost)}, sent twice {len(self.sent_twice)}, posted twice "
            f"{len(self.posted_twice)}; kills {dict(kinds)}; {timing}; allowed repeats: "
            f"{self.rerun_turns} re-run model turns, {self.extra_tasks} extra task executions"
            f" ({self.busy_exits} exited busy)"
        )


def chaos(fleet: CeleryFleet, size: Size, rng: random.Random, kills: list[Kill],
          stop: threading.Event, window: float) -> None:  # fmt: skip
    """Kill at random moments within ``window`` seconds, restarting what died."""
    plan = ["child"] * size.child_kills + ["main"] * size.main_kills
    plan += ["broker"] * size.broker_restarts
    rng.shuffle(plan)
    moments = sorted(rng.uniform(0.1, 1.0) * window for _ in plan)
    began = time.monotonic()
    for kind, moment in zip(plan, moments, strict=True):
        if stop.wait(max(0.0, began + moment - time.monotonic())):
            return
        index = rng.randrange(size.workers)
        if kind == "broker":
            kills.append(Kill("broker", time.time()))
            fleet.restart_broker()
        elif kind == "child":
            kills.append(Kill("child", time.time(), fleet.kill_child(index)))
        else:
            kills.append(Kill("main", time.time(), fleet.kill_main(index)))
            fleet.start_worker(index)


def recoveries(fleet: CeleryFleet, kills: list[Kill]) -> list[float]:
    """For each kill of a process that was running a task: the seconds until a task on the
    same key started in another process and did not find it busy."""
    lines = fleet.tasks()
    found = []
    for kill in kills:
        if kill.pid is None:
            continue
        pids = {kill.pid}  # a killed main's pool child (orphaned) counts as the same worker
        open_keys = {
            line.key
            for line in lines
            if line.pid in pids and line.phase == "start" and line.at < kill.at
            and not any(e.phase == "end" and e.pid == line.pid and e.key == line.key
                        and e.at == line.at for e in lines)
        }  # fmt: skip
        for key in open_keys:
            later = [e.at for e in lines if e.phase == "end" and e.key == key
                     and e.pid not in pids and e.at > kill.at and e.action != "busy"]  # fmt: skip
            if later:
                found.append(min(later) - kill.at)
    return found


def run_campaign(dsn: str, size: Size, *, seed: int = 16) -> Findings:
    """Drive ``size.runs`` inbound emails through the fleet under kills; check each."""
    rng, model = random.Random(seed), ReplyModel()
    findings = Findings(size.runs)
    began = time.monotonic()
    stop = threading.Event()
    with (
        Sandbox(**sandbox_options(model)) as sandbox,
        CeleryFleet(sandbox, dsn, workers=size.workers, park_after=1.0, lease=6.0) as fleet,
    ):
        inbound = [
            sandbox.multimail.inject_inbound(
                sender=f"c{n}@example.com", subject=f"Campaign {n}", markdown=f"Order {n}?"
            )["id"]
            for n in range(size.runs)
        ]
        window = max(5.0, size.runs * 0.25)
        killer = threading.Thread(
            target=chaos, args=(fleet, size, rng, findings.kills, stop, window), daemon=True
        )
        killer.start()
        decided: set[str] = set()
        deadline = time.monotonic() + size.timeout
        try:
            while time.monotonic() < deadline:
                for held in sandbox.multimail.pending():  # the operator approves or rejects
                    if held["id"] not in decided and rng.random() < 0.5:
                        action = "approve" if rng.random() < 0.7 else "reject"
                        sandbox.multimail.decide(held["id"], action, None)
                        decided.add(held["id"])
                if _all_ended(sandbox, inbound, model) and not killer.is_alive():
                    break
                time.sleep(0.3)
            time.sleep(2.0)  # a late duplicate would show now
        finally:
            stop.set()
            killer.join(30)
        _check(sandbox, inbound, model, fleet, findings)
    findings.seconds = time.monotonic() - began
    return findings


def _all_ended(sandbox: Sandbox, inbound: list[str], model: ReplyModel) -> bool:
    answers = replies(sandbox)
    return all(
        any(r["status"] in FINAL for r in answers.get(e, [])) and model.turns[e] >= 2
        for e in inbound
    )


def _check(sandbox: Sandbox, inbound: list[str], model: ReplyModel, fleet: CeleryFleet,
           findings: Findings) -> None:  # fmt: skip
    answers = replies(sandbox)
    for email_id in inbound:
        mine = answers.get(email_id, [])
        if len(mine) > 1:
            findings.sent_twice.append(email_id)
        if model.posted.get(email_id, 0) > 1:
            findings.posted_twice.append(email_id)
        if mine and all(r["status"] in FINAL for r in mine) and model.turns[email_id] >= 2:
            findings.ended += 1
        else:
            findings.lost.append(email_id)
        findings.rerun_turns += max(0, model.turns[email_id] - EXPECTED_TURNS)
    ends = [t for t in fleet.tasks() if t.phase == "end"]
    findings.busy_exits = sum(t.action == "busy" for t in ends)
    useful = Counter((t.name, t.key) for t in ends if t.action != "busy")
    findings.extra_tasks = sum(n - 1 for n in useful.values()) + findings.busy_exits
    findings.recoveries = recoveries(fleet, findings.kills)
