"""The demo's story, told alike by ``mm-assistants demo`` (`mm_assistants.cli.demo`) and
``mm-assistants demo --webhooks`` (`mm_assistants.cli.demo_webhooks`): who writes, what the
user asks, the options, the narrated dispatcher, the review page's line, the reviewer's
decisions and the closing summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.cli.console import Console
from mm_assistants.cli.demo_reviewer import Decider, after_delay, at_terminal
from mm_assistants.dispatch import Dispatcher, ToolCall, ToolResult
from mm_assistants.drivers import RunOutcome
from mm_assistants.multimail import MultiMailClient
from mm_assistants.tools import DEFAULT_SCHEMA_VERSION

USER_REQUEST = "Please answer the newest email in my inbox."
SENDER = "ana.silva@customer.example"
SUBJECT = "Can we move Thursday's call?"
BODY = (
    "Hi,\n\nSomething came up on Thursday morning. Could we move our call to the "
    "afternoon, say 3 pm?\n\nThanks,\nAna"
)
MODEL = "sandbox-email-assistant"
REVIEW_TICK = 0.2


@dataclass(frozen=True)
class DemoOptions:
    """What the command line chose."""

    api: str = "assistants"  # or "responses"
    mode: str = "poll"  # "poll" or "stream" (Responses: stream shows the words as they come)
    decision: str = "approve"
    reason: str | None = None
    decide_after: float = 3.0
    interactive: bool = False
    max_wait: float = 120.0
    as_json: bool = False
    webhooks: bool = False
    model_latency: float = 0.3  # seconds the scripted model "thinks" per turn
    # the story's tools (check_inbox, read_email, reply_email) are in every bundled set
    schema_version: str = DEFAULT_SCHEMA_VERSION


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


def summarise(
    console: Console, outcome: RunOutcome, seconds: float, *, text_shown: bool = False
) -> None:
    """The assistant's last words (unless ``text_shown``: they were streamed) and one line
    of totals."""
    if not text_shown:
        console.line()
        for paragraph in outcome.text.splitlines():
            console.line(f"  assistant ▸ {paragraph}" if paragraph else "")
    decisions = ", ".join(a.decision for a in outcome.approvals) or "none"
    console.line()
    console.line(
        f"run {outcome.status} · {len(outcome.tool_results)} tool calls · approvals: "
        f"{decisions} · {outcome.openai_requests} OpenAI requests · {seconds:.1f} s"
    )
