"""A worker that drives Assistants runs and delivers approval decisions that come late.

Each round it starts a thread with MESSAGE, drives the run with `AssistantsRunDriver`
(tool calls dispatched to MultiMail, a held reply waited on per `ApprovalPolicy`), and
prints every tool result and how the run ended. A reply still held when the wait ends is
recorded in a SQLite file; the next round, or ``--resolve-pending`` (say, from cron after
a restart), posts its decision to the run's thread.

Reads ``OPENAI_*`` and ``MULTIMAIL_*`` (``MULTIMAIL_MAILBOX_ID`` too) from the environment::

    python examples/worker.py ASSISTANT_ID "Answer the newest email in my inbox" --once
    python examples/worker.py --resolve-pending
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import closing

from openai import OpenAI

from mm_assistants import (
    ApprovalPolicy,
    AssistantsRunDriver,
    Dispatcher,
    MultiMailClient,
    RunOutcome,
    SQLitePendingStore,
)


def report(outcome: RunOutcome) -> None:
    for result in outcome.tool_results:
        detail = f"HTTP {result.http_status}" if result.ok else result.output
        print(f"  {'ok ' if result.ok else 'ERR'} {result.name}: {detail}")
    for approval in outcome.approvals:
        print(f"  approval {approval.email_id}: {approval.decision} after {approval.waited:.1f} s")
    print(f"run {outcome.run_id} on {outcome.thread_id}: {outcome.status}")
    print(outcome.text)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("assistant_id", nargs="?")
    parser.add_argument("message", nargs="?", default="Answer the newest email in my inbox.")
    parser.add_argument("--pending-db", default="pending-approvals.sqlite3")
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
    with MultiMailClient() as multimail, closing(SQLitePendingStore(args.pending_db)) as store:
        # The mailbox is the model's scope: a call naming any other is refused unsent.
        dispatcher = Dispatcher(multimail, mailbox_id=mailbox_id, approval_store=store)
        approvals = ApprovalPolicy(max_wait=args.max_wait)
        driver = AssistantsRunDriver(OpenAI(), dispatcher, approvals=approvals)
        while True:
            for late in driver.resolve_pending():
                print(f"late decision posted: {late.email_id} {late.decision}")
            if args.resolve_pending:
                print(f"{len(store.all())} approvals still pending")
                return 0
            outcome = driver.create_thread_and_run(args.assistant_id, [args.message])
            report(outcome)
            if args.once:
                return 0 if outcome.status == "completed" else 1
            time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
