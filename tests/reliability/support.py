"""What the reliability tests share: the scale, a fast sandbox, an autonomous mailbox, a
reviewer that approves everything, a scripted model that follows a plan given in the
user's message, and ways to look at what the sandbox stored and delivered.

Scale: ``MM_RELIABILITY=full`` (``make reliability``) runs the full counts; otherwise the
CI slice runs as part of the normal test suite.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import httpx2
import openai

from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.multimail import RetryPolicy
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox
from tests.quiet import quiet_assistants as quiet_assistants

FULL = os.environ.get("MM_RELIABILITY", "").strip().lower() == "full"

#: How a run may end: `RunOutcome.status` of every driven run is one of these.
EXPLICIT_ENDS = frozenset({"completed", "failed", "incomplete", "cancelled", "expired"})
#: Refusals the dispatcher gives before any request leaves.
REFUSALS = frozenset(
    {
        "unknown_tool",
        "invalid_arguments",
        "tool_not_allowed",
        "mailbox_not_allowed",
        # a secret-bearing tool with no on_secret: refused before anything is parsed or sent
        "secret_handoff_unavailable",
    }
)

SEND_ROUTE = "POST /v1/mailboxes/{mailbox_id}/send"
REPLY_ROUTE = "POST /v1/mailboxes/{mailbox_id}/reply/{email_id}"
READ_ROUTE = "GET /v1/mailboxes/{mailbox_id}/emails/{email_id}"
LIST_ROUTE = "GET /v1/mailboxes/{mailbox_id}/emails"

PLAN_SCRIPT = "reliability-plan"
PLAN_MODEL = f"scripted:{PLAN_SCRIPT}"
PLAN_PREFIX = "plan:"
DONE_TEXT = "Done with the plan."

QUICK_APPROVALS = ApprovalPolicy(max_wait=8, margin=1, first_delay=0.05, max_interval=0.2)
LOOK_TIMEOUT = 20.0
#: Idle connections are dropped by the clients after this many seconds, before the
#: sandbox's uvicorn drops them (after 5 s, which is also httpx's default): a request then
#: never races the server closing its connection, which the SDK, told not to retry,
#: would report as a connection error.
KEEPALIVE = 2.0


def scaled(ci_slice: int, full: int) -> int:
    """``full`` under ``MM_RELIABILITY=full``, else ``ci_slice``."""
    return full if FULL else ci_slice


def fast_sandbox(**options: Any) -> Sandbox:
    """A sandbox tuned for speed: no scan delay, no model latency, a 20 ms poll hint, and
    mailboxes created without an operator's code (not started)."""
    options.setdefault(
        "multimail_settings",
        MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05, require_approval=()),
    )
    options.setdefault(
        "openai_settings", OpenAIEmulatorSettings(model_latency=0.0, poll_after_ms=20)
    )
    return Sandbox(**options)


def fast_retry(max_attempts: int = 3) -> RetryPolicy:
    """Retries that take milliseconds (``Retry-After`` up to a second is honoured)."""
    return RetryPolicy(
        max_attempts=max_attempts, initial_delay=0.01, max_delay=0.05, jitter=0.5, max_retry_after=1
    )


def openai_client(sandbox: Sandbox) -> openai.OpenAI:
    """An SDK client on the sandbox's emulator that never retries (every request counts)."""
    http = httpx2.Client(limits=httpx2.Limits(keepalive_expiry=KEEPALIVE))
    return openai.OpenAI(
        api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0, http_client=http
    )


def async_openai_client(sandbox: Sandbox, **http_options: Any) -> openai.AsyncOpenAI:
    """`openai_client` for asyncio; ``http_options`` go to the ``httpx2.AsyncClient``."""
    limits = httpx2.Limits(keepalive_expiry=KEEPALIVE)
    http = httpx2.AsyncClient(limits=limits, **http_options)
    return openai.AsyncOpenAI(
        api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0, http_client=http
    )


# -- the tenant's mailboxes -----------------------------------------------------------------


def api(sandbox: Sandbox, scope: str) -> httpx.Client:
    """A plain HTTP client on the sandbox's MultiMail API with the key of ``scope``."""
    return httpx.Client(
        base_url=sandbox.multimail_url,
        headers={"Authorization": f"Bearer {sandbox.keys[scope]}"},
        timeout=10,
    )


def autonomous_mailbox(sandbox: Sandbox, local: str = "auto") -> str:
    """A new mailbox of the seeded tenant in ``autonomous`` mode, the way an operator gets
    one: created ``gated_send``, then upgraded with the code MultiMail mails to them."""
    with api(sandbox, "admin") as admin, api(sandbox, "send") as agent:
        created = admin.post("/v1/mailboxes", json={"address_local": local})
        created.raise_for_status()
        mailbox_id = str(created.json()["id"])
        target = {"target_mode": "autonomous"}
        agent.post(f"/v1/mailboxes/{mailbox_id}/request-upgrade", json=target).raise_for_status()
        [code] = [c for c in sandbox.multimail.codes("upgrade") if c["mailbox_id"] == mailbox_id]
        upgraded = agent.post(f"/v1/mailboxes/{mailbox_id}/upgrade", json={"code": code["id"]})
        upgraded.raise_for_status()
        assert upgraded.json()["oversight_mode"] == "autonomous"
    return mailbox_id


class Approver:
    """A human at the oversight queue, in a thread: approves every held email it sees
    until the ``with`` block ends; `decided` lists what it approved."""

    def __init__(self, sandbox: Sandbox, interval: float = 0.1) -> None:
        self.sandbox = sandbox
        self.interval = interval
        self.decided: list[str] = []
        self.error: BaseException | None = None
        self._lock = threading.Lock()  # the test's thread may approve too (wait_until_quiet)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="reliability-approver", daemon=True)

    def _work(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self.approve_all()
        except BaseException as exc:  # noqa: BLE001 -- surfaced by __exit__
            self.error = exc

    def approve_all(self) -> int:
        """Approve what is held now; how many."""
        with self._lock:
            held = self.sandbox.multimail.pending()
            for email in held:
                self.sandbox.multimail.decide(email["id"], "approve")
                self.decided.append(email["id"])
            return len(held)

    def __enter__(self) -> Approver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(LOOK_TIMEOUT)
        if self.error is not None:
            raise self.error


def wait_until_quiet(sandbox: Sandbox, approver: Approver | None, seconds: float) -> None:
    """Let requests still sleeping in an injected latency land, then approve what they
    held, so that counting stored emails sees everything that will ever be stored."""
    time.sleep(seconds)
    deadline = time.monotonic() + LOOK_TIMEOUT
    while sandbox.multimail.pending():
        if approver is not None:
            approver.approve_all()
        if time.monotonic() > deadline:
            raise AssertionError("held emails were still left undecided")
        time.sleep(0.02)
    sandbox.multimail.settle()


def stored_by_subject(sandbox: Sandbox, mailbox_ids: Sequence[str]) -> dict[str, list[str]]:
    """Subject -> ids of the outbound emails the mailboxes hold, as the API lists them."""
    found: dict[str, list[str]] = defaultdict(list)
    with api(sandbox, "read") as reader:
        for mailbox_id in mailbox_ids:
            cursor = None
            for _ in range(10_000):  # bounded: each page moves the cursor on
                params = {
                    "direction": "outbound",
                    "limit": "100",
                    **({"cursor": cursor} if cursor else {}),
                }
                page = reader.get(f"/v1/mailboxes/{mailbox_id}/emails", params=params)
                page.raise_for_status()
                for email in page.json()["emails"]:
                    found[email["subject"]].append(email["id"])
                cursor = page.json()["cursor"]
                if cursor is None:
                    break
    return dict(found)


def deliveries_by_subject(sandbox: Sandbox) -> dict[str, list[str]]:
    """Subject -> ids of the emails delivered with it (what left the sandbox)."""
    found: dict[str, list[str]] = defaultdict(list)
    for entry in sandbox.multimail.sent():
        if entry["kind"] == "delivery":
            found[entry["subject"]].append(entry["email_id"])
    return dict(found)


# -- the scripted model ---------------------------------------------------------------------


def register_plan_script(sandbox: Sandbox) -> None:
    """The model of `PLAN_MODEL`: the user's message is `plan_message(steps)`; it makes
    each step's calls in parallel, one step per turn, then says `DONE_TEXT`."""

    def follow(state: Any) -> dict[str, Any]:
        text = state.last_user_message or ""
        steps = json.loads(text[len(PLAN_PREFIX) :]) if text.startswith(PLAN_PREFIX) else []
        if state.turn < len(steps):
            calls = steps[state.turn]
            return {"calls": [{"name": name, "arguments": args} for name, args in calls]}
        return {"say": DONE_TEXT}

    sandbox.openai.register_script(PLAN_SCRIPT, follow)


def plan_message(steps: Sequence[Sequence[tuple[str, Mapping[str, Any]]]]) -> str:
    """The user message that makes the plan model take ``steps`` (lists of (tool, args))."""
    return PLAN_PREFIX + json.dumps([[[name, dict(args)] for name, args in step] for step in steps])
