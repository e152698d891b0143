"""``mm-assistants demo --webhooks``: the demo's story told through webhooks.

The sandbox delivers signed events to the demo's own endpoint on loopback (a Starlette app
around a `WebhookReceiver`): ``message.received`` makes the `InboundRouter` start the run,
and the reviewer's ``oversight.approved``/``oversight.rejected`` wakes the run's approval
wait through the `ApprovalHub` at once, although the wait's own status checks are set 30 s
apart.
"""

from __future__ import annotations

import socket
import time
import warnings
from typing import Any, TextIO

from mm_assistants._sunset import AssistantsSunsetWarning
from mm_assistants.approvals import ApprovalHub, ApprovalPolicy
from mm_assistants.cli.console import Console
from mm_assistants.cli.demo_reviewer import Reviewer
from mm_assistants.cli.demo_story import (
    BODY,
    MODEL,
    REVIEW_TICK,
    SENDER,
    SUBJECT,
    DemoOptions,
    NarratedDispatcher,
    decider_for,
    introduce_review_page,
    summarise,
)
from mm_assistants.drivers import AssistantsRunDriver, RunOutcome
from mm_assistants.inbound import InboundRouter
from mm_assistants.multimail import MultiMailClient
from mm_assistants.openai_setup import create_assistant
from mm_assistants.tools import load_registry
from mm_assistants.webhooks import EVENT_TYPES, HandledEvent, WebhookReceiver

#: The wait's own status checks, so far apart that only the webhook can explain a fast wake.
SLOW_CHECKS = 30.0
PATH = "/multimail/webhooks"


class NarratedReceiver(WebhookReceiver):
    """A `WebhookReceiver` that tells the console what each delivery did."""

    def __init__(self, secret: str, console: Console, **options: Any) -> None:
        super().__init__(secret, **options)
        self.console = console

    def handle(self, event: Any) -> HandledEvent:
        handled = super().handle(event)
        parts = ["signature ok"]
        if handled.woke:
            parts.append("woke the approval wait")
        if handled.route is not None and handled.route.action != "ignored":
            parts.append(f"router: {handled.route.action}")
        parts.extend(handled.errors)
        self.console.line(f"  webhook ◂ {event.type} ({', '.join(parts)})")
        return handled


def run_webhook_demo(options: DemoOptions, out: TextIO, *, ask: Any = input) -> RunOutcome:
    """Play the story through webhooks and return the run's outcome."""
    import openai
    from starlette.applications import Starlette

    from mm_assistants.sandbox import OpenAIEmulatorSettings, Sandbox
    from mm_assistants.sandbox.serving import LoopbackServer
    from mm_assistants.webhooks.starlette import webhook_route

    started = time.monotonic()
    console = Console(out, live=out.isatty())
    settings = OpenAIEmulatorSettings(model_latency=options.model_latency, run_expiry_seconds=600)
    port = _free_port()
    with Sandbox(openai_settings=settings) as sandbox:
        console.line("mm-assistants demo --webhooks · offline, on the embedded sandbox")
        console.line(f"  sandbox    {sandbox.base_url} (MultiMail API + OpenAI emulator)")
        introduce_review_page(console, sandbox.base_url, options)
        console.line(f"  mailbox    {sandbox.mailbox_id} (oversight: gated_send)")
        with (
            MultiMailClient(api_key=sandbox.keys["admin"], base_url=sandbox.multimail_url) as admin,
            MultiMailClient(api_key=sandbox.keys["send"], base_url=sandbox.multimail_url) as agent,
            MultiMailClient(
                api_key=sandbox.keys["oversight"], base_url=sandbox.multimail_url
            ) as reviewer_client,
            openai.OpenAI(
                api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0
            ) as client,
        ):
            url = f"http://127.0.0.1:{port}{PATH}"
            hook: dict[str, object] = {"url": url, "events": list(EVENT_TYPES)}
            # MultiMail mails the operator a code first (202); the demo is the operator
            admin.request("POST", "/v1/webhooks", json=hook)
            hook["approval_code"] = sandbox.multimail.approval_code("create_webhook")
            subscription = admin.request("POST", "/v1/webhooks", json=hook).data
            console.line(f"  webhooks   {url} (signed with the subscription's secret)")
            hub = ApprovalHub()
            dispatcher = NarratedDispatcher(
                agent,
                console,
                registry=load_registry(options.schema_version),
                mailbox_id=sandbox.mailbox_id,
                audit=None,
                approval_hub=hub,
            )
            policy = ApprovalPolicy(
                max_wait=options.max_wait, first_delay=SLOW_CHECKS, max_interval=SLOW_CHECKS
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AssistantsSunsetWarning)
                assistant = create_assistant(
                    client,
                    model=MODEL,
                    name="Inbox assistant",
                    mailbox_id=sandbox.mailbox_id,
                    version=options.schema_version,
                )
                driver = AssistantsRunDriver(client, dispatcher, approvals=policy)
            outcomes: list[RunOutcome] = []
            router = InboundRouter(
                client,
                dispatcher,
                assistant_id=assistant.id,
                driver=driver,
                background=True,
                on_outcome=lambda thread, outcome: outcomes.append(outcome),
            )
            receiver = NarratedReceiver(
                subscription["signing_secret"], console, hub=hub, router=router
            )
            app = Starlette(routes=[webhook_route(receiver, PATH)])
            run_started = time.time()
            reviewer = Reviewer(
                reviewer_client,
                decider_for(options, console, ask),
                console,
                deadline_of=lambda seen: policy.deadline(
                    seen, run_started + settings.run_expiry_seconds
                ),
            )
            with LoopbackServer(app, port=port, name="mm-demo-webhooks"), router:
                console.line()
                inbound = sandbox.multimail.inject_inbound(
                    sender=SENDER, subject=SUBJECT, markdown=BODY
                )
                console.line(f"  inbound    {SENDER}: {SUBJECT!r} ({inbound['id']})")
                deadline = time.monotonic() + options.max_wait + 60
                try:
                    while not outcomes and time.monotonic() < deadline:
                        reviewer.tick()
                        time.sleep(REVIEW_TICK / 4)
                except KeyboardInterrupt:
                    console.mute()  # the routed run may still narrate: not any more
                    raise
                console.clear_status()
                router.join(timeout=5)
    if not outcomes:
        raise RuntimeError("the routed run did not end in time")
    outcome = outcomes[0]
    for approval in outcome.approvals:
        console.line(
            f"  approval   {approval.email_id}: {approval.decision}, woken by {approval.woken_by} "
            f"after {approval.waited:.2f} s with {approval.status_checks} status checks "
            f"(checks were {SLOW_CHECKS:.0f} s apart)"
        )
    summarise(console, outcome, time.monotonic() - started)
    return outcome


def _free_port() -> int:
    # The subscription needs the URL before the receiver (which needs the secret) exists.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
