"""What the atomic-start tests share: sandbox options, clients that die right after a run
was created (the request reached OpenAI, the worker never read the answer), and readers
of what ended up on a thread."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai

from mm_assistants._sunset import call_assistants
from mm_assistants.drivers.assistants_start import KEY_FIELD, KeyedMessage
from mm_assistants.openai_setup import create_assistant
from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox

SCRIPTS = {
    "hello": [{"say": "Hello"}],
    "ask": [{"call": "read_email", "arguments": {"email_id": "em_x"}}, {"say": "Read it"}],
}
M1 = KeyedMessage("em_1", "Inbound email em_1")
M2 = KeyedMessage("em_2", "Inbound email em_2")


def options() -> dict[str, Any]:
    """``mm_sandbox_options`` with the scripts above and quick polls."""
    return {
        "multimail_settings": MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05),
        "openai_settings": OpenAIEmulatorSettings(
            model_latency=0.0, poll_after_ms=10, scripts=SCRIPTS
        ),
    }


class Crash(Exception):
    """The worker died here."""


class Wire:
    """Records a client's requests; ``crash_after_create`` makes the next run create
    reach the server and then kill the caller before it sees the answer."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.crash_after_create = False

    def request(self, request: httpx.Request) -> None:
        body = json.loads(request.content) if request.content else {}
        self.sent.append((request.method, request.url.path, body))

    def response(self, response: httpx.Response) -> None:
        request = response.request
        if self.crash_after_create and _is_create(request):
            self.crash_after_create = False
            raise Crash("the worker died after the run was created")

    async def arequest(self, request: httpx.Request) -> None:
        self.request(request)

    async def aresponse(self, response: httpx.Response) -> None:
        self.response(response)

    def creates(self) -> list[dict[str, Any]]:
        """The bodies of the run creates sent."""
        return [body for method, path, body in self.sent if method == "POST" and _runs(path)]

    def posts(self) -> int:
        """How many ``POST /threads/{id}/messages`` were sent."""
        return sum(1 for m, p, _ in self.sent if m == "POST" and p.endswith("/messages"))


def _runs(path: str) -> bool:
    return path.endswith("/runs") and "/threads/" in path


def _is_create(request: httpx.Request) -> bool:
    return request.method == "POST" and _runs(request.url.path)


def client(sandbox: Sandbox, wire: Wire) -> openai.OpenAI:
    """A blocking client for one worker, its requests seen by ``wire``."""
    http = httpx.Client(event_hooks={"request": [wire.request], "response": [wire.response]})
    return openai.OpenAI(
        api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0, http_client=http
    )


def async_client(sandbox: Sandbox, wire: Wire) -> openai.AsyncOpenAI:
    """`client` for asyncio."""
    http = httpx.AsyncClient(event_hooks={"request": [wire.arequest], "response": [wire.aresponse]})
    return openai.AsyncOpenAI(
        api_key="sk-sandbox", base_url=sandbox.openai_url, max_retries=0, http_client=http
    )


def assistant(sandbox: Sandbox, script: str = "hello") -> str:
    """An assistant following ``script``."""
    with openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url) as setup:
        made = create_assistant(setup, model=f"scripted:{script}", mailbox_id=sandbox.mailbox_id)
    return str(made.id)


def new_thread(sandbox: Sandbox) -> str:
    """An empty thread."""
    with openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url) as setup:
        return str(call_assistants(setup.beta.threads.create).id)


def user_texts(sandbox: Sandbox, thread_id: str) -> list[str]:
    """The user messages on a thread, oldest first."""
    with openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url) as reader:
        page = call_assistants(reader.beta.threads.messages.list, thread_id, order="asc", limit=100)
    return [m.content[0].text.value for m in page.data if m.role == "user"]


def message_keys(sandbox: Sandbox, thread_id: str) -> list[str]:
    """The keys carried by the thread's messages, oldest first."""
    with openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url) as reader:
        page = call_assistants(reader.beta.threads.messages.list, thread_id, order="asc", limit=100)
    return [str(m.metadata[KEY_FIELD]) for m in page.data if KEY_FIELD in (m.metadata or {})]


def runs_of(sandbox: Sandbox, thread_id: str) -> list[Any]:
    """The thread's runs, oldest first."""
    with openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url) as reader:
        page = call_assistants(reader.beta.threads.runs.list, thread_id, order="asc", limit=100)
    return list(page.data)


def start_run(sandbox: Sandbox, thread_id: str, assistant_id: str) -> str:
    """Start a run on the thread from outside any driver (another worker's run)."""
    with openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url) as other:
        run = call_assistants(other.beta.threads.runs.create, thread_id, assistant_id=assistant_id)
    return str(run.id)


def wait_ended(sandbox: Sandbox, thread_id: str, timeout: float = 5.0) -> None:
    """Until the thread's runs have all ended (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(
            r.status in ("completed", "failed", "cancelled") for r in runs_of(sandbox, thread_id)
        ):
            return
        time.sleep(0.02)
    raise AssertionError(f"a run on {thread_id} did not end within {timeout} s")
