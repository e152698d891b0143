"""``mm-assistants demo``: the whole story offline, on the embedded sandbox.

A customer's email arrives in a ``gated_send`` mailbox; an assistant made from the bundled
``agent`` schemas checks the inbox, reads the email and replies; the reply is held for a
human; a reviewer approves or rejects it; the assistant reports how it ended. The driver
runs in a worker thread while this thread plays the reviewer, so the wait is visible live.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, TextIO

from mm_assistants._sunset import AssistantsSunsetWarning
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.cli.console import Console
from mm_assistants.cli.reviewer import Decider, Reviewer, after_delay, at_terminal
from mm_assistants.dispatch import Dispatcher, ToolCall, ToolResult
from mm_assistants.drivers import AssistantsRunDriver, ResponsesDriver, RunOutcome
from mm_assistants.drivers.base import Mode
from mm_assistants.multimail import MultiMailClient
from mm_assistants.openai_setup import create_assistant

USER_REQUEST = "Please answer the newest email in my inbox."
SENDER = "ana.silva@customer.example"
SUBJECT = "Can we move Thursday's call?"
BODY = (
    "Hi,\n\nSomething came up on Thursday morning. Could we move our call to the "
    "afternoon, say 3 pm?\n\nThanks,\nAna"
)
MODEL = "sandbox-email-assistant"
REVIEW_TICK = 0.2
#: The exit code of an interrupted demo (the shell's 128 + SIGINT).
INTERRUPTED = 130


@dataclass(frozen=True)
class DemoOptions:
    """What the command line chose."""

    api: str = "assistants"  # or "responses"
    mode: str = "poll"  # Assistants only: "poll" or "stream"
    decision: str = "approve"
    reason: str | None = None
    decide_after: float = 3.0
    interactive: bool = False
    max_wait: float = 120.0
    as_json: bool = False
    webhooks: bool = False
    model_latency: float = 0.3  # seconds the scripted model "thinks" per turn


def register(subparsers: Any) -> None:
    """Add ``demo``."""
    parser = subparsers.add_parser("demo", help="the offline demo on the embedded sandbox")
    parser.add_argument("--api", choices=("assistants", "responses"), default="assistants")
    parser.add_argument("--mode", choices=("poll", "stream"), default="poll")
    parser.add_argument("--decision", choices=("approve", "reject"), default="approve")
    parser.add_argument("--reason", default=None, help="the reviewer's reason for a rejection")
    parser.add_argument(
        "--decide-after", type=float, default=3.0, help="seconds before the reviewer decides"
    )
    parser.add_argument(
        "--interactive", action="store_true", help="you are the reviewer: approve or reject"
    )
    parser.add_argument(
        "--max-wait", type=float, default=120.0, help="longest approval wait, seconds"
    )
    parser.add_argument("--json", action="store_true", help="print the RunOutcome as JSON")
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="the sandbox delivers signed webhooks to the demo: the inbound email starts the "
        "run and the approval wakes it at once",
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    options = DemoOptions(
        api=args.api,
        mode=args.mode,
        decision=args.decision,
        reason=args.reason
        or ("Please do not promise a time yet." if args.decision == "reject" else None),
        decide_after=args.decide_after,
        interactive=args.interactive,
        max_wait=args.max_wait,
        as_json=args.json,
        webhooks=args.webhooks,
    )
    if options.webhooks and (options.api != "assistants" or options.mode != "poll"):
        print("mm-assistants demo: --webhooks runs the Assistants poll driver", file=sys.stderr)
        return 2
    # With --json, stdout carries only the JSON; the transcript goes to stderr.
    out = sys.stderr if options.as_json else sys.stdout
    try:
        if options.webhooks:
            from mm_assistants.cli.demo_webhooks import run_webhook_demo

            outcome = run_webhook_demo(options, out)
        else:
            outcome = run_demo(options, out)
    except KeyboardInterrupt:
        # Ctrl-C anywhere, or Ctrl-C / Ctrl-D at the reviewer's prompt: one line, no
        # traceback; the run's thread is a daemon and ends with the process
        print("\nmm-assistants demo: interrupted", file=sys.stderr)
        return INTERRUPTED
    if options.as_json:
        print(json.dumps(outcome.as_dict(), indent=2, default=str))
    return 0 if outcome.status == "completed" else 1


class NarratedDispatcher(Dispatcher):
    """A `Dispatcher` that tells the console about each call as it starts and ends."""

    def __init__(self, client: MultiMailClient, console: Console, **options: Any) -> None:
        super().__init__(client, **options)
        self.console = console

    def dispatch(self, call: ToolCall, *, approvals: ApprovalPolicy | None = None) -> ToolResult:
        self.console.call_started(call)
        result = super().dispatch(call, approvals=approvals)
        self.console.call_finished(result)
        return result


def run_demo(options: DemoOptions, out: TextIO, *, ask: Any = input) -> RunOutcome:
    """Play the story and return the run's outcome (the transcript goes to ``out``)."""
    from mm_assistants.sandbox import OpenAIEmulatorSettings, Sandbox

    started = time.monotonic()
    console = Console(out, live=out.isatty())
    settings = OpenAIEmulatorSettings(model_latency=options.model_latency, run_expiry_seconds=600)
    with Sandbox(openai_settings=settings) as sandbox:
        inbound = sandbox.multimail.inject_inbound(sender=SENDER, subject=SUBJECT, markdown=BODY)
        console.line("mm-assistants demo · offline, on the embedded sandbox")
        console.line(f"  sandbox    {sandbox.base_url} (MultiMail API + OpenAI emulator)")
        introduce_review_page(console, sandbox.base_url, options)
        console.line(f"  mailbox    {sandbox.mailbox_id} (oversight: gated_send)")
        console.line(f"  inbound    {SENDER}: {SUBJECT!r} ({inbound['id']})")
        with (
            MultiMailClient(
                api_key=sandbox.keys["send"], base_url=sandbox.multimail_url
            ) as agent_client,
            MultiMailClient(
                api_key=sandbox.keys["oversight"], base_url=sandbox.multimail_url
            ) as reviewer_client,
        ):
            dispatcher = NarratedDispatcher(
                agent_client, console, mailbox_id=sandbox.mailbox_id, audit=None
            )
            policy = ApprovalPolicy(max_wait=options.max_wait, first_delay=0.25, max_interval=1.0)
            decider = decider_for(options, console, ask)
            run_started = time.time()
            reviewer = Reviewer(
                reviewer_client,
                decider,
                console,
                deadline_of=lambda seen: policy.deadline(
                    seen, run_started + settings.run_expiry_seconds
                ),
            )
            try:
                outcome = _drive(options, sandbox, dispatcher, policy, console, reviewer)
            except KeyboardInterrupt:
                console.mute()  # the run's thread may still narrate: not any more
                raise
    summarise(console, outcome, time.monotonic() - started)
    return outcome


def review_url(base_url: str) -> str:
    """The sandbox's review page (it answers to a loopback Host: a local browser)."""
    return f"{base_url}/review/"


def introduce_review_page(console: Console, base_url: str, options: DemoOptions) -> None:
    """Point at the review page, and say whether the browser can beat the scripted reviewer."""
    console.line(f"  review     {review_url(base_url)} (the review page, for a local browser)")
    if not options.interactive:
        verb = "approves" if options.decision == "approve" else "rejects"
        console.line(
            f"             decide there within {options.decide_after:g} s, "
            f"or the scripted reviewer {verb} it"
        )


def decider_for(options: DemoOptions, console: Console, ask: Any) -> Decider:
    """The reviewer's decisions: asked at the terminal, or automatic after a delay."""
    if options.interactive:
        return at_terminal(console, ask)
    return after_delay(options.decision, options.decide_after, options.reason)


def _drive(
    options: DemoOptions,
    sandbox: Any,
    dispatcher: Dispatcher,
    policy: ApprovalPolicy,
    console: Console,
    reviewer: Reviewer,
) -> RunOutcome:
    import openai

    client = openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["outcome"] = _one_run(options, client, dispatcher, policy, console, sandbox)
        except BaseException as exc:  # handed to the main thread, which re-raises it
            box["error"] = exc

    worker = threading.Thread(target=work, name="mm-demo-run", daemon=True)
    worker.start()
    while worker.is_alive():
        reviewer.tick()
        worker.join(REVIEW_TICK)
    console.clear_status()
    client.close()
    if "error" in box:
        raise box["error"]
    outcome: RunOutcome = box["outcome"]
    return outcome


def _one_run(
    options: DemoOptions,
    client: Any,
    dispatcher: Dispatcher,
    policy: ApprovalPolicy,
    console: Console,
    sandbox: Any,
) -> RunOutcome:
    console.line()
    console.line(f"  user ▸ {USER_REQUEST}")
    if options.api == "responses":
        console.line("  (Responses API)")
        return ResponsesDriver(client, dispatcher, approvals=policy).run(USER_REQUEST, model=MODEL)
    with warnings.catch_warnings():
        # the transcript says which API this is; the sandbox serves it on purpose
        warnings.simplefilter("ignore", AssistantsSunsetWarning)
        assistant = create_assistant(
            client, model=MODEL, name="Inbox assistant", mailbox_id=sandbox.mailbox_id
        )
    console.line(
        f"  (Assistants API, {options.mode} mode; assistant {assistant.id} "
        f"with {len(assistant.tools)} tools from the bundled 'agent' schemas)"
    )
    mode: Mode = "stream" if options.mode == "stream" else "poll"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AssistantsSunsetWarning)
        driver = AssistantsRunDriver(client, dispatcher, mode=mode, approvals=policy)
    return driver.create_thread_and_run(assistant.id, [USER_REQUEST])


def summarise(console: Console, outcome: RunOutcome, seconds: float) -> None:
    """The assistant's last words and one line of totals."""
    console.line()
    for paragraph in outcome.text.splitlines():
        console.line(f"  assistant ▸ {paragraph}" if paragraph else "")
    decisions = ", ".join(a.decision for a in outcome.approvals) or "none"
    console.line()
    console.line(
        f"run {outcome.status} · {len(outcome.tool_results)} tool calls · approvals: "
        f"{decisions} · {outcome.openai_requests} OpenAI requests · {seconds:.1f} s"
    )
