"""End to end: the real ``openai`` SDK and the library's real MultiMail clients and
dispatchers against the sandbox on loopback.

Every knob is turned for speed: no scan delay, no model latency, a 20 ms poll hint and an
approval wait that looks every few tens of milliseconds. Each test gets a fresh sandbox
(``mm_sandbox``), stopped when it ends.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import openai
import pytest

from mm_assistants.approvals import ApprovalPolicy, MemoryPendingStore
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient, RetryPolicy
from mm_assistants.openai_setup import create_assistant
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox
from mm_assistants.tools import SCHEMA_VERSIONS, ToolRegistry, load_registry
from tests.quiet import quiet_assistants

POLL_AFTER_MS = 20
#: Statuses of a send still held for a human.
HELD = ("pending_scan", "pending_send_approval")
SUBMIT = "POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs"
RETRIEVE = "GET /threads/{thread_id}/runs/{run_id}"
LOOK_TIMEOUT = 5.0

FAST_APPROVALS = ApprovalPolicy(max_wait=10, margin=1, first_delay=0.05, max_interval=0.2)
CHECK_INBOX = {"direction": "inbound", "limit": 5}
SEND = {"to": ["bob@example.com"], "subject": "Quarterly numbers", "markdown": "Attached soon."}

# Scripts the tests share (the emulator's data-script format).
SCRIPTS: dict[str, list[dict[str, Any]]] = {
    "hello": [{"say": "Hello!"}],
    "inbox": [
        {"call": "check_inbox", "arguments": CHECK_INBOX},
        {"say": "Newest: {{outputs.check_inbox.emails.0.id}}"},
    ],
    "parallel": [
        {
            "calls": [
                {"name": "check_inbox", "arguments": CHECK_INBOX},
                {"name": "list_mailboxes", "arguments": {}},
            ]
        },
        {"say": "Looked at {{outputs.list_mailboxes.mailboxes.0.id}} and its inbox."},
    ],
    "send": [
        {"call": "send_email", "arguments": SEND},
        {"say": "The send ended: {{outputs.send_email}}"},
    ],
    "fail": [{"fail": {"code": "rate_limit_exceeded", "message": "The model is overloaded."}}],
    "incomplete": [
        {"call": "check_inbox", "arguments": CHECK_INBOX},
        {"incomplete": "max_completion_tokens", "say": "I was about to"},
    ],
}


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {
        "multimail_settings": MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05),
        "openai_settings": OpenAIEmulatorSettings(
            model_latency=0.0, poll_after_ms=POLL_AFTER_MS, scripts=SCRIPTS
        ),
    }


@pytest.fixture(autouse=True)
def quiet_assistants_warnings() -> Iterator[None]:
    # the sandbox serves the deprecated Assistants API on purpose
    with quiet_assistants():
        yield


@pytest.fixture
def sandbox(mm_sandbox: Sandbox) -> Sandbox:
    return mm_sandbox


@pytest.fixture
def inbound(sandbox: Sandbox) -> dict[str, Any]:
    """An email from a customer, waiting in the inbox."""
    return sandbox.multimail.inject_inbound(
        sender="ana@customer.example", subject="Can we meet?", markdown="Thursday at 3?"
    )


@pytest.fixture
def openai_client(sandbox: Sandbox) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0) as client:
        yield client


@pytest.fixture
async def async_openai_client(sandbox: Sandbox) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0)
    async with client:
        yield client


@pytest.fixture
def store() -> MemoryPendingStore:
    return MemoryPendingStore()


FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05, jitter=0)


@pytest.fixture(params=SCHEMA_VERSIONS)
def schema_version(request: pytest.FixtureRequest) -> str:
    """Each bundled schema set in turn: every test that dispatches or makes an assistant
    through the fixtures below runs once per set (the ids end in ``[v1]`` / ``[v2]``)."""
    version: str = request.param
    return version


@pytest.fixture
def registry(schema_version: str) -> ToolRegistry:
    """The bundled tools of `schema_version`."""
    return load_registry(schema_version)


@pytest.fixture
def dispatcher(
    sandbox: Sandbox, store: MemoryPendingStore, registry: ToolRegistry
) -> Iterator[Dispatcher]:
    with MultiMailClient(
        api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, retry=FAST_RETRY
    ) as client:
        yield Dispatcher(
            client,
            registry=registry,
            mailbox_id=sandbox.mailbox_id,
            audit=None,
            approval_store=store,
        )


@pytest.fixture
async def async_dispatcher(
    sandbox: Sandbox, store: MemoryPendingStore, registry: ToolRegistry
) -> AsyncIterator[AsyncDispatcher]:
    async with AsyncMultiMailClient(
        api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, retry=FAST_RETRY
    ) as client:
        yield AsyncDispatcher(
            client,
            registry=registry,
            mailbox_id=sandbox.mailbox_id,
            audit=None,
            approval_store=store,
        )


@pytest.fixture
def assistant_for(sandbox: Sandbox, schema_version: str) -> Any:
    """``assistant_for("send")``: the id of an assistant with the bundled ``agent`` tools of
    `schema_version` that follows that script (made with a short-lived sync client, before
    any drive). Options (``profile``, ``tools``, ``mailbox_id``) go to `create_assistant`."""

    def make(script: str, **options: Any) -> str:
        options.setdefault("mailbox_id", sandbox.mailbox_id)
        with openai.OpenAI(
            api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0
        ) as client:
            assistant = create_assistant(
                client, model=f"scripted:{script}", version=schema_version, **options
            )
        return str(assistant.id)

    return make


# -- looking at what happened ---------------------------------------------------------------


def outbound(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The mailbox's outbound emails, as the MultiMail API lists them."""
    response = httpx.get(
        f"{sandbox.multimail_url}/v1/mailboxes/{sandbox.mailbox_id}/emails",
        params={"direction": "outbound"},
        headers={"Authorization": f"Bearer {sandbox.keys['send']}"},
        timeout=5,
    )
    response.raise_for_status()
    emails: list[dict[str, Any]] = response.json()["emails"]
    return emails


def wait_until_held(sandbox: Sandbox, timeout: float = LOOK_TIMEOUT) -> dict[str, Any]:
    """The first outbound email held for approval, once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = [email for email in outbound(sandbox) if email["status"] in HELD]
        if held:
            return held[0]
        time.sleep(0.02)
    raise AssertionError(f"no send was held for approval within {timeout} s")


class Reviewer:
    """A human in another thread: decides the first held send (``action`` is
    ``approve`` or ``reject``) or, with ``then``, runs ``then()`` once a send is held."""

    def __init__(
        self, sandbox: Sandbox, action: str = "approve", reason: str | None = None
    ) -> None:
        self.sandbox = sandbox
        self.action = action
        self.reason = reason
        self.decided: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="e2e-reviewer", daemon=True)

    def _work(self) -> None:
        try:
            email = wait_until_held(self.sandbox)
            self.decided = self.sandbox.multimail.decide(email["id"], self.action, self.reason)
        except BaseException as exc:  # noqa: BLE001 -- surfaced by __exit__
            self.error = exc

    def __enter__(self) -> Reviewer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join(LOOK_TIMEOUT + 1)
        if self.error is not None:
            raise self.error


def when_held(sandbox: Sandbox, action: Any) -> threading.Thread:
    """Run ``action()`` in another thread once a send is held; join the returned thread."""

    def work() -> None:
        wait_until_held(sandbox)
        action()

    thread = threading.Thread(target=work, name="e2e-when-held", daemon=True)
    thread.start()
    return thread


def submitted_outputs(client: openai.OpenAI, thread_id: str, run_id: str) -> list[list[Any]]:
    """Per tool step of the run, the outputs the model was given (parsed JSON)."""
    steps = client.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc")
    return [
        [json.loads(call.function.output) for call in step.step_details.tool_calls]
        for step in steps.data
        if step.type == "tool_calls"
    ]


def thread_texts(client: openai.OpenAI, thread_id: str) -> list[str]:
    """Every message of the thread as text, oldest first."""
    page = client.beta.threads.messages.list(thread_id, order="asc")
    return ["".join(part.text.value for part in m.content if part.type == "text") for m in page]


def requests_to(sandbox: Sandbox, route: str) -> int:
    """How many requests the emulator served on ``route`` (e.g. `SUBMIT`)."""
    return int(sandbox.openai.counters()["routes"].get(route, 0))


def deliveries(sandbox: Sandbox) -> list[tuple[str, list[str]]]:
    """What left the sandbox for real recipients: (email id, recipients)."""
    return [
        (entry["email_id"], entry["recipients"])
        for entry in sandbox.multimail.sent()
        if entry["kind"] == "delivery"
    ]


class PollPacer:
    """Once a run has been polled ``after`` times, slow the emulator's poll hint down to
    ``slow_ms``; `polls_before` is how many polls had been made by then."""

    def __init__(self, sandbox: Sandbox, after: int, slow_ms: int) -> None:
        self.sandbox = sandbox
        self.after = after
        self.slow_ms = slow_ms
        self.polls_before: int | None = None
        self._thread = threading.Thread(target=self._work, name="e2e-pacer", daemon=True)

    def _work(self) -> None:
        deadline = time.monotonic() + LOOK_TIMEOUT
        while time.monotonic() < deadline:
            polls = requests_to(self.sandbox, RETRIEVE)
            if polls >= self.after:
                self.sandbox.openai.update(poll_after_ms=self.slow_ms)
                self.polls_before = requests_to(self.sandbox, RETRIEVE)
                return
            time.sleep(0.002)

    def __enter__(self) -> PollPacer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join(LOOK_TIMEOUT + 1)


def names(results: Sequence[Any]) -> list[str]:
    return [result.name for result in results]
