"""A worker that dies mid-dispatch, for tests/inbound/test_work_reattach.py.

``python -m tests.inbound.dying_worker DB THREAD`` runs `FleetWork.route_inbound(THREAD)`
on the SQLite stores in ``DB`` against the sandbox named by the environment
(`Sandbox.environment`), and SIGKILLs itself the moment MultiMail answered its first send:
the send went out, its output was never recorded, and no ``finally`` runs. What it leaves
behind (a claimed thread, taken mail, a dispatching checkpoint) is what a real worker's
death leaves.
"""

from __future__ import annotations

import os
import signal
import sys

import httpx
import openai

from mm_assistants.dispatch import Dispatcher
from mm_assistants.drivers import ResponsesDriver
from mm_assistants.inbound import FleetWork, InboundRouter
from mm_assistants.multimail import MultiMailClient, RetryPolicy
from mm_assistants.state import (
    MemoryDecisionStore,
    SQLiteCheckpointStore,
    SQLitePendingStore,
    SQLiteRouteStore,
)
from tests.inbound.test_work_reattach import LEASE, MODEL, PARKING


def die_after_a_send(response: httpx.Response) -> None:
    """The worker's death: right after MultiMail answered a send."""
    if response.request.method == "POST" and response.request.url.path.endswith("/send"):
        os.kill(os.getpid(), signal.SIGKILL)


def main(path: str, thread: str) -> int:
    """Run ``thread`` until the first send kills this process (it never returns then)."""
    http = httpx.Client(event_hooks={"response": [die_after_a_send]})
    multimail = MultiMailClient(
        api_key=os.environ["MULTIMAIL_API_KEY"],
        base_url=os.environ["MULTIMAIL_API_URL"],
        retry=RetryPolicy(max_attempts=1),
        http_client=http,
    )
    pending, checkpoints = SQLitePendingStore(path), SQLiteCheckpointStore(path)
    dispatcher = Dispatcher(
        multimail, mailbox_id=os.environ["MULTIMAIL_MAILBOX_ID"], audit=None,
        approval_store=pending,
    )  # fmt: skip
    client = openai.OpenAI(max_retries=0)
    driver = ResponsesDriver(
        client, dispatcher, approvals=PARKING, checkpoints=checkpoints,
        checkpoint_lease=LEASE / 2,
    )  # fmt: skip
    router = InboundRouter(
        client, dispatcher, model=MODEL, driver=driver, store=SQLiteRouteStore(path, lease=LEASE)
    )
    work = FleetWork(
        router, pending=pending, checkpoints=checkpoints, decisions=MemoryDecisionStore()
    )
    work.route_inbound(thread)
    return 0  # not reached: the send kills it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
