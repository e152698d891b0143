"""The fleet end to end, as separate processes on one real PostgreSQL database: the web
process (examples/fleet_web.py) receives the sandbox's signed webhooks, three workers
(examples/fleet_worker.py) drive runs that park, and a reviewer's decision in the sandbox
wakes them, whichever process they live in. Workers are killed at the worst moments and
another finishes their runs, with exactly one email sent per run.

Every process is stopped in a ``finally`` (`fleet_support.processes`), every wait is
bounded (`fleet_support.WAIT`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from mm_assistants.sandbox import MultiMailSandboxSettings, Sandbox
from tests.e2e.inbound import operator_post
from tests.fleet.fleet_support import (
    EXAMPLES,
    Process,
    backends,
    free_port,
    processes,
    wait_until,
    with_application_name,
)

PARKED = r"run: parked \(checkpoint (\S+)\)"
HELD = r"approval (em_\w+): pending"
#: Seconds a resume's claim outlives a killed resumer (the workers' --resume-lease).
RESUME_LEASE = 2.0


@dataclass
class Fleet:
    sandbox: Sandbox
    dsn: str
    started: list[Process]
    web: Process
    admin: Any  # an autocommit psycopg connection of the test's own
    workers: int = 0
    names: dict[str, str] = field(default_factory=dict)

    def worker(self, *args: str, hook: str | None = None, stdin: bool = False) -> Process:
        """Start a fleet worker (through a hook of fleet_support's when ``hook``)."""
        self.workers += 1
        name = f"fleet-worker-{self.workers}"
        env = {
            **os.environ,
            **self.sandbox.environment(),
            "MM_ASSISTANTS_DSN": with_application_name(self.dsn, name),
        }
        script = [str(EXAMPLES / "fleet_worker.py")]
        if hook is not None:
            script = ["-m", "tests.fleet.fleet_support", hook, *script]
        argv = [sys.executable, *script, "--park-after", "0.5", *args]
        process = Process(name, argv, env, stdin=stdin)
        self.started.append(process)
        process.wait_for("fleet worker .* ready")
        return process

    def decide(self, email_id: str, action: str) -> None:
        """What a person does on the sandbox's review page: the page's own decide request
        (its header and token included), as a browser sends it."""
        page = httpx.get(f"{self.sandbox.base_url}/review/", timeout=10)
        token = re.search(r'data-review-token="([^"]+)"', page.text)
        assert token is not None, "the review page carries no token"
        answer = httpx.post(
            f"{self.sandbox.base_url}/review/api/decide",
            headers={"X-Review-Request": "1", "X-Review-Token": token[1]},
            json={"email_id": email_id, "action": action, "reason": "Not this week"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text

    def deliveries(self) -> list[str]:
        """The email ids that left the sandbox for their recipients, in order."""
        return [
            entry["email_id"]
            for entry in self.sandbox.multimail.sent()
            if entry.get("kind") == "delivery"
        ]


@pytest.fixture
def fleet(pg_dsn: str) -> Iterator[Fleet]:
    settings = MultiMailSandboxSettings(scan_delay=0.1, reply_dedupe_window=0.0)
    with Sandbox(multimail_settings=settings) as sandbox:
        sandbox.multimail.inject_inbound(
            sender="ana@customer.example", subject="Move our call?", markdown="Thursday 3 pm?"
        )
        init = subprocess.run(  # what the README's Scale out section types
            [sys.executable, "-m", "mm_assistants.cli.main", "state", "init"],
            env={**os.environ, "MM_ASSISTANTS_DSN": pg_dsn},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert init.returncode == 0, init.stdout + init.stderr
        port = free_port()
        answer = operator_post(
            sandbox,
            "/v1/webhooks",
            {
                "url": f"http://127.0.0.1:{port}/multimail/webhooks",
                "events": ["oversight.approved", "oversight.rejected"],
            },
        )
        assert answer.status_code == 201, answer.text
        env = {
            **os.environ,
            "MM_ASSISTANTS_DSN": with_application_name(pg_dsn, "fleet-web"),
            "MULTIMAIL_WEBHOOK_SECRET": answer.json()["signing_secret"],
        }
        with (
            processes() as started,
            psycopg.connect(pg_dsn, autocommit=True) as admin,
        ):
            web = Process(
                "web", [sys.executable, str(EXAMPLES / "fleet_web.py"), "--port", str(port)], env
            )
            started.append(web)
            web.wait_for("fleet web ready")
            yield Fleet(sandbox, pg_dsn, started, web, admin)


def test_decisions_on_the_review_queue_wake_parked_runs_in_three_workers(fleet: Fleet) -> None:
    # No look of the workers' own (sweep, periodic look) comes before the end of the test:
    # only a webhook → the web process → NOTIFY can wake these runs.
    quiet = ("--sweep-every", "600", "--look-every", "600")
    workers = [fleet.worker("--run", "Answer the newest email", *quiet) for _ in range(3)]
    parked = [(w.wait_for(PARKED)[1], w.wait_for(HELD)[1]) for w in workers]
    assert len({checkpoint for checkpoint, _ in parked}) == 3

    actions = ["approve", "reject", "approve"]
    for (_, email_id), action in zip(parked, actions, strict=True):
        fleet.decide(email_id, action)
        fleet.web.wait_for(rf"webhook oversight\.\w+ {email_id}: decision recorded")

    for checkpoint, _ in parked:
        wait_until(
            lambda c=checkpoint: any(w.matches(rf"resumed {c}: completed") for w in workers),
            what=f"a worker finishing {checkpoint}",
        )
    for checkpoint, _ in parked:  # once each, fleet-wide
        assert sum(len(w.matches(rf"resumed {checkpoint}:")) for w in workers) == 1
    for (_, email_id), action in zip(parked, actions, strict=True):  # the real decision
        said = f"approval {email_id}: {'approved' if action == 'approve' else 'rejected'}"
        assert sum(len(w.matches(said)) for w in workers) == 1
    # Woken by the bell alone: the only emails read are the model's read_email, one per run;
    # not one status request about a held reply.
    reads = fleet.sandbox.multimail.counters()["routes"]
    assert reads.get("GET /v1/mailboxes/{mailbox_id}/emails/{email_id}") == 3
    approved = [
        email_id for (_, email_id), a in zip(parked, actions, strict=True) if a == "approve"
    ]
    wait_until(lambda: len(fleet.deliveries()) >= 2, what="the two approved replies leaving")
    assert sorted(fleet.deliveries()) == sorted(approved)  # once each, the rejected never


def test_a_worker_killed_while_its_run_is_parked_costs_nothing(fleet: Fleet) -> None:
    doomed = fleet.worker("--run", "Answer the newest email")
    checkpoint, email_id = doomed.wait_for(PARKED)[1], doomed.wait_for(HELD)[1]
    doomed.kill()
    heir = fleet.worker("--look-every", "600")

    fleet.decide(email_id, "approve")

    heir.wait_for(rf"resumed {checkpoint}: completed")
    wait_until(fleet.deliveries, what="the approved reply's delivery")
    assert fleet.deliveries() == [email_id]


@pytest.mark.parametrize("moment", ["before_submit", "after_submit"])
def test_a_worker_killed_mid_resume_is_replaced_once_its_claim_lapses(
    fleet: Fleet, moment: str
) -> None:
    lease = ("--resume-lease", str(RESUME_LEASE))
    doomed = fleet.worker("--run", "Answer the newest email", *lease, hook=moment)
    checkpoint, email_id = doomed.wait_for(PARKED)[1], doomed.wait_for(HELD)[1]
    fleet.decide(email_id, "approve")
    doomed.wait_for("PAUSED")  # it claimed the resume, and stopped there
    doomed.kill()

    heir = fleet.worker("--look-every", "0.5", *lease)

    heir.wait_for(rf"resumed {checkpoint}: completed")
    wait_until(fleet.deliveries, what="the approved reply's delivery")
    assert fleet.deliveries() == [email_id]  # sent once: the resume re-sent nothing


def test_a_listener_cut_while_a_decision_is_published_still_wakes_the_run(
    fleet: Fleet,
) -> None:
    worker = fleet.worker(
        "--run", "Answer the newest email", "--sweep-every", "600", "--look-every", "600"
    )
    checkpoint, email_id = worker.wait_for(PARKED)[1], worker.wait_for(HELD)[1]
    assert backends(fleet.admin, worker.name, listening=True) == 1
    database = fleet.admin.info.dbname
    # New connections to the database are refused while the decision is published, so the
    # worker's listener cannot be back before it: the bell rings for nobody. (Connections
    # already open, the pools' among them, go on working.)
    server = psycopg.connect(make_conninfo(fleet.dsn, dbname="postgres"), autocommit=True)
    server.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
    try:
        fleet.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND query ILIKE 'LISTEN%%'",
            (worker.name,),
        )
        wait_until(lambda: backends(fleet.admin, worker.name, listening=True) == 0)
        fleet.decide(email_id, "approve")
        fleet.web.wait_for(rf"webhook oversight\.approved {email_id}: decision recorded")
        assert not worker.matches(rf"resumed {checkpoint}")
    finally:
        server.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        server.close()

    worker.wait_for(rf"resumed {checkpoint}: completed")  # the reconnect's look found it
    assert backends(fleet.admin, worker.name, listening=True) == 1
    wait_until(fleet.deliveries, what="the approved reply's delivery")
    assert fleet.deliveries() == [email_id]


def test_a_parked_run_holds_no_thread_socket_or_connection(fleet: Fleet) -> None:
    runs = ("--run", "Answer the newest email") * 3
    worker = fleet.worker(*runs, "--sweep-every", "600", "--look-every", "600",
                          hook="gated", stdin=True)  # fmt: skip

    def holds() -> tuple[int, int, int]:
        return worker.threads(), worker.sockets(), backends(fleet.admin, worker.name)

    worker.wait_for(PARKED)
    worker.wait_for("WAITING")
    one_parked = holds()
    worker.send("go")
    worker.wait_for("WAITING", count=2)
    worker.send("go")
    worker.wait_for(PARKED, count=3)
    three_parked = wait_until(lambda: holds() if holds() == one_parked else None,
                              timeout=5, what=f"holding {one_parked} again")  # fmt: skip

    print(
        f"threads, sockets, PostgreSQL backends: {one_parked} with 1 parked, {three_parked} with 3"
    )
    assert three_parked == one_parked
    # Nor a transaction or a lock left open on the server for them.
    assert fleet.admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
        " AND state LIKE 'idle in transaction%%'",
        (worker.name,),
    ).fetchone() == (0,)
