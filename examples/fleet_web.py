"""The web process of a fleet: receives MultiMail's signed webhooks and tells every worker.

An ``oversight.approved``/``oversight.rejected`` delivery becomes the email's decision in
PostgreSQL (``MM_ASSISTANTS_DSN``), written in the same transaction as a NOTIFY that rings
every worker at once: the one whose run waits on that email wakes, or, when the run was
parked, any worker resumes it (examples/fleet_worker.py). The replay memory (a delivery is
accepted once, whichever web process of the fleet receives it) is in the same database.

Reads ``MM_ASSISTANTS_DSN`` and ``MULTIMAIL_WEBHOOK_SECRET`` (the subscription's
``signing_secret``)::

    python examples/fleet_web.py --port 8000     # POST /multimail/webhooks, GET /health
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mm_assistants import ApprovalHub
from mm_assistants.state.postgres import PostgresDecisionStore, PostgresState
from mm_assistants.webhooks import HandledEvent, WebhookEvent, WebhookReceiver
from mm_assistants.webhooks.starlette import webhook_route


class FleetReceiver(WebhookReceiver):
    """A `WebhookReceiver` that prints one line per delivery it handled."""

    def handle(self, event: WebhookEvent) -> HandledEvent:
        handled = super().handle(event)
        email_id = getattr(event, "email_id", None) or "-"
        done = "decision recorded" if handled.woke else "nothing to record"
        print(f"webhook {event.type} {email_id}: {done}", *handled.errors, flush=True)
        return handled


def build_app(state: PostgresState, secret: str) -> Starlette:
    """The Starlette app: the webhook route on a fleet hub, and ``GET /health``."""
    # publish() records the decision durably and NOTIFYs; this process waits on nothing,
    # so it never opens a LISTEN connection.
    hub = ApprovalHub(decisions=PostgresDecisionStore(state.database))
    receiver = FleetReceiver(secret, hub=hub, replay_guard=state.seen)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        print(f"fleet web ready (pid {os.getpid()})", flush=True)
        yield
        hub.close()
        state.close()

    routes = [webhook_route(receiver), Route("/health", health)]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    dsn, secret = os.environ.get("MM_ASSISTANTS_DSN"), os.environ.get("MULTIMAIL_WEBHOOK_SECRET")
    if not dsn or not secret:
        parser.error("set MM_ASSISTANTS_DSN and MULTIMAIL_WEBHOOK_SECRET")

    state = PostgresState(dsn)
    try:
        state.database.ensure_schema()  # a wrong DSN fails here, not on the first delivery
    except ConnectionError as error:  # says host, port and database: never the password
        parser.exit(1, f"fleet_web: {error}\n")

    import uvicorn

    uvicorn.run(build_app(state, secret), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
