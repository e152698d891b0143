"""``make demo-fleet``: a Celery fleet on this machine answers 20 inbound emails.

It starts a throwaway Redis and PostgreSQL on loopback, the sandbox (MultiMail and OpenAI),
the web endpoint that receives the sandbox's webhooks and two Celery workers with a beat
(`tests.reliability.celery_fleet`). Twenty emails arrive in the sandbox's ``gated_send``
mailbox; each becomes a run on whichever worker is free, whose reply is held for a person.
An operator (this script) decides each held reply at a random moment: some at once, while
the run still waits in its worker, some after the run parked; some approved, some rejected.

It prints one line per run and the fleet's figures, and exits 0 only when every run ended
as decided with exactly one reply. Everything it started is stopped on the way out, Ctrl-C
included. It lives in scripts/ because it reuses the tests' throwaway servers
(tests/pgcluster.py, tests/reliability/celery_fleet.py)::

    python scripts/demo_fleet.py [--runs 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file, from a clone

FINAL = {"approved": ("read", "sent", "delivered"), "rejected": ("rejected",)}  # read: delivered
PARK_AFTER = 2.0


def operator(sandbox: Any, dsn: str, rng: random.Random, plan: dict[str, Any],
             stop: threading.Event) -> None:  # fmt: skip
    """Decide every held reply at a random moment, like a person at the review queue."""
    import psycopg

    due: dict[str, tuple[float, str]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            now = time.monotonic()
            for held in sandbox.multimail.pending():
                email_id = held["id"]
                if email_id not in due and email_id not in plan:
                    delay = rng.choice([rng.uniform(0.1, 1.0), rng.uniform(3.0, 6.0)])
                    action = "approve" if rng.random() < 0.6 else "reject"
                    due[email_id] = (now + delay, action)
            for email_id, (when, action) in list(due.items()):
                if when > now:
                    continue
                thread = sandbox.multimail.email(email_id)["thread_id"]
                row = conn.execute(
                    "SELECT parked IS NOT NULL FROM mm_route_threads WHERE mm_thread = %s",
                    (thread,),
                ).fetchone()
                sandbox.multimail.decide(email_id, action, None)
                plan[email_id] = {"action": action, "parked": bool(row and row[0]),
                                  "decided_at": time.time()}  # fmt: skip
                del due[email_id]
            stop.wait(0.1)


def ended(sandbox: Any, inbound: dict[str, str], plan: dict[str, Any]) -> dict[str, Any]:
    """Per inbound email: its replies and whether the run ended as decided."""
    from tests.reliability.celery_fleet import replies

    answers = replies(sandbox)
    found = {}
    for email_id in inbound:
        mine = answers.get(email_id, [])
        reply = mine[0] if mine else None
        decision = plan.get(reply["id"]) if reply else None
        want = FINAL["approved" if decision and decision["action"] == "approve" else "rejected"]
        final = bool(reply and decision and reply["status"] in want)
        found[email_id] = {"replies": len(mine), "reply": reply, "decision": decision,
                           "ok": final and len(mine) == 1}  # fmt: skip
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args(argv)

    from mm_assistants.sandbox import Sandbox
    from tests.pgcluster import PostgresCluster, why_unavailable
    from tests.reliability.celery_fleet import (
        CeleryFleet,
        ReplyModel,
        sandbox_options,
        why_no_redis,
    )

    for reason in (why_unavailable(), why_no_redis()):
        if reason:
            print(f"demo-fleet cannot run here: {reason}", file=sys.stderr)
            return 2
    rng, model, plan = random.Random(args.seed), ReplyModel(), {}
    stop = threading.Event()
    cluster = PostgresCluster()
    began = time.monotonic()
    try:
        print("starting PostgreSQL, Redis, the sandbox, the web endpoint, 2 workers, beat")
        cluster.start()
        dsn = cluster.fresh_dsn()
        with (
            Sandbox(**sandbox_options(model)) as sandbox,
            CeleryFleet(sandbox, dsn, workers=2, park_after=PARK_AFTER) as fleet,
        ):
            print(f"fleet up in {time.monotonic() - began:.1f} s; sending {args.runs} emails")
            inbound = {}
            for n in range(1, args.runs + 1):
                email = sandbox.multimail.inject_inbound(
                    sender=f"customer{n}@example.com", subject=f"Question {n}",
                    markdown=f"Can you confirm order {1000 + n}?",
                )  # fmt: skip
                inbound[email["id"]] = email["subject"]
            deciding = threading.Thread(
                target=operator, args=(sandbox, dsn, rng, plan, stop), daemon=True
            )
            deciding.start()
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                state = ended(sandbox, inbound, plan)
                if all(s["ok"] for s in state.values()):
                    break
                time.sleep(0.5)
            time.sleep(1.0)  # anything late (a second reply) would show now
            state = ended(sandbox, inbound, plan)
            stop.set()
            deciding.join(5)
            return report(inbound, state, model, fleet, time.monotonic() - began)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        stop.set()
        cluster.stop()


def report(inbound: dict[str, str], state: dict[str, Any], model: Any, fleet: Any,
           seconds: float) -> int:  # fmt: skip
    """Print one line per run and the fleet figures; the exit status."""
    print(f"\n{'email':<26} {'subject':<12} {'decision':<9} {'when':<14} reply status  replies")
    for email_id, subject in inbound.items():
        s = state[email_id]
        decision = s["decision"] or {}
        when = "after parking" if decision.get("parked") else "while waiting"
        status = s["reply"]["status"] if s["reply"] else "-"
        mark = "ok" if s["ok"] else "WRONG"
        print(f"{email_id:<26} {subject:<12} {decision.get('action', '-'):<9} "
              f"{when if decision else '-':<14} {status:<13} {s['replies']}  {mark}")  # fmt: skip
    tasks = [t for t in fleet.tasks() if t.phase == "end"]
    kinds: dict[str, int] = {}
    for task in tasks:
        kinds[f"{task.name}:{task.action}"] = kinds.get(f"{task.name}:{task.action}", 0) + 1
    good = sum(s["ok"] for s in state.values())
    print(f"\n{good}/{len(inbound)} runs ended as decided with exactly one reply"
          f" in {seconds:.1f} s")  # fmt: skip
    parked = sum(bool((s["decision"] or {}).get("parked")) for s in state.values())
    print(f"decided after the run parked: {parked}")
    print(f"tasks run: {len(tasks)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})")
    print(
        f"model turns: {sum(model.turns.values())};"
        f" most posts of one email in a conversation: {max(model.posted.values(), default=0)}"
    )
    print(f"broker commands (Redis): {fleet.broker.commands()}")
    return 0 if good == len(inbound) and max(model.posted.values(), default=0) <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
