"""A worker in one process, on the fleet's work primitives (`FleetWork`).

Each round asks for a run on MESSAGE (`FleetWork.request_run`, a key per round), then
does what a fleet's task queue would ring for: `FleetWork.sweep` lists the threads with
work waiting (this round's request, and a round a crash interrupted) and the parked runs
to resume, and `route_inbound` / `resume_run` drive each. The Assistants run dispatches
its tool calls to MultiMail and waits for a held reply per `ApprovalPolicy`; it prints
every tool result and how the run ended. State is one SQLite file: the claims and queues
(a run a killed worker left is taken up again by the next start, once its short lease
lapsed) and the replies still held when the wait ended; the next round, or
``--resolve-pending`` (say, from cron after a restart), posts their decisions to the
runs' threads. Across many processes, the same primitives run as Celery tasks
(`mm_assistants.celery`) on PostgreSQL.

Reads ``OPENAI_*`` and ``MULTIMAIL_*`` (``MULTIMAIL_MAILBOX_ID`` too) from the environment::

    python examples/worker.py ASSISTANT_ID "Answer the newest email in my inbox" --once
    python examples/worker.py --resolve-pending
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack, closing

from openai import OpenAI

from mm_assistants import (
    ApprovalPolicy,
    AssistantsRunDriver,
    Dispatcher,
    MultiMailClient,
    RunOutcome,
    SQLitePendingStore,
)
from mm_assistants.inbound import FleetWork, InboundRouter
from mm_assistants.state import MemoryDecisionStore, SQLiteCheckpointStore, SQLiteRouteStore

LEASE = 60.0  # renewed while a run goes on; a killed worker's run is taken up after this


def report(outcome: RunOutcome) -> None:
    for result in outcome.tool_results:
        detail = f"HTTP {result.http_status}" if result.ok else result.output
        print(f"  {'ok ' if result.ok else 'ERR'} {result.name}: {detail}")
    for approval in outcome.approvals:
        print(f"  approval {approval.email_id}: {approval.decision} after {approval.waited:.1f} s")
    print(f"run {outcome.run_id} on {outcome.thread_id}: {outcome.status}")
    print(outcome.text)


def post_late(driver: AssistantsRunDriver) -> None:
    """Post the decisions that came after their run's wait ended."""
    for late in driver.resolve_pending():
        print(f"late decision posted: {late.email_id} {late.decision}")


def work_round(work: FleetWork) -> list[RunOutcome]:
    """Everything the sweep finds, driven here: what a fleet's queue would ring for."""
    plan = work.sweep()
    outcomes: list[RunOutcome] = []
    for thread in plan.threads:
        outcomes += work.route_inbound(thread).outcomes
    for checkpoint in plan.checkpoints:
        outcomes += work.resume_run(checkpoint).outcomes
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("assistant_id", nargs="?")
    parser.add_argument("message", nargs="?", default="Answer the newest email in my inbox.")
    parser.add_argument("--pending-db", default="pending-approvals.sqlite3", help="state file")
    parser.add_argument("--max-wait", type=float, default=300, help="approval wait, seconds")
    parser.add_argument("--every", type=float, default=60, help="seconds between rounds")
    parser.add_argument("--once", action="store_true", help="exit after one run")
    parser.add_argument("--resolve-pending", action="store_true", help="only post late decisions")
    args = parser.parse_args()
    if not (args.assistant_id or args.resolve_pending):
        parser.error("give an ASSISTANT_ID, or --resolve-pending")

    mailbox_id = os.environ.get("MULTIMAIL_MAILBOX_ID")
    if not mailbox_id:
        parser.error("set MULTIMAIL_MAILBOX_ID: the one mailbox the model may use")
    with ExitStack() as stack:
        multimail = stack.enter_context(MultiMailClient())
        # one file for the three stores: their tables do not overlap
        pending = stack.enter_context(closing(SQLitePendingStore(args.pending_db)))
        routes = stack.enter_context(closing(SQLiteRouteStore(args.pending_db, lease=LEASE)))
        checkpoints = stack.enter_context(closing(SQLiteCheckpointStore(args.pending_db)))
        # The mailbox is the model's scope: a call naming any other is refused unsent.
        dispatcher = Dispatcher(multimail, mailbox_id=mailbox_id, approval_store=pending)
        approvals = ApprovalPolicy(max_wait=args.max_wait)
        openai = OpenAI()
        driver = AssistantsRunDriver(openai, dispatcher, approvals=approvals)
        post_late(driver)
        if args.resolve_pending:
            print(f"{len(pending.all())} approvals still pending")
            return 0
        router = InboundRouter(
            openai, dispatcher, assistant_id=args.assistant_id, driver=driver, store=routes
        )
        work = FleetWork(
            router, pending=pending, checkpoints=checkpoints, decisions=MemoryDecisionStore()
        )
        started = time.time_ns()  # request keys of this process: a restart asks anew
        rounds = 0
        while True:
            rounds += 1
            work.request_run(f"worker-{started}-{rounds}", args.message)
            outcomes = work_round(work)
            for outcome in outcomes:
                report(outcome)
            if args.once:
                ok = bool(outcomes) and all(o.status == "completed" for o in outcomes)
                return 0 if ok else 1
            time.sleep(args.every)
            post_late(driver)


if __name__ == "__main__":
    sys.exit(main())
