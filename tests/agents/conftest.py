"""The real ``openai-agents`` SDK against the sandbox on loopback, tracing off.

Every socket connection a test opens is recorded, and the test fails if one leaves
loopback: the SDK's trace exporter (or a default client) must never reach the internet.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest

pytest.importorskip("agents", reason="openai-agents is not installed (the agents extra)")

from agents import Agent, OpenAIResponsesModel, set_tracing_disabled

from mm_assistants.agents import multimail_tools
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher
from mm_assistants.multimail import AsyncMultiMailClient, MultiMailClient
from mm_assistants.sandbox import (
    MultiMailSandboxSettings,
    OpenAIEmulatorSettings,
    Sandbox,
)
from tests.e2e.conftest import FAST_APPROVALS, FAST_RETRY
from tests.e2e.conftest import async_openai_client as async_openai_client  # fixtures
from tests.e2e.conftest import inbound as inbound  # the e2e fixtures, found by name
from tests.e2e.conftest import sandbox as sandbox

CHECK_INBOX = {"direction": "inbound", "limit": 5}
NEWEST = "{{outputs.check_inbox.emails.0.id}}"
REPLY = {"email_id": NEWEST, "markdown": "Thursday at 3 works for me."}
#: The emulator's scripts; each turn is one model turn (see the sandbox's script.py).
SCRIPTS: dict[str, list[dict[str, Any]]] = {
    "handle": [
        {"call": "check_inbox", "arguments": CHECK_INBOX},
        {"call": "read_email", "arguments": {"email_id": NEWEST}},
        {"call": "reply_email", "arguments": REPLY},
        {"say": "Reply {{outputs.reply_email.status}}: {{outputs.reply_email.note}}"},
    ],
    "inbox": [
        {"call": "check_inbox", "arguments": CHECK_INBOX},
        {"say": "Newest: {{outputs.check_inbox.emails.0.id}}"},
    ],
    "hostile": [
        {"call": "check_inbox", "arguments": CHECK_INBOX},
        {"call": "read_email", "arguments": {"email_id": NEWEST}},
        # The model is told, by the conversation itself, whether the sender's text came
        # back inside the untrusted frame.
        {"when": {"last_tool_output_contains": '"untrusted":{'}, "say": "framed"},
        {"say": "unframed"},
    ],
    "elsewhere": [
        {"call": "check_inbox", "arguments": {**CHECK_INBOX, "mailbox_id": "mbx_elsewhere"}},
        {"say": "Refused: {{outputs.check_inbox.error.type}}"},
    ],
}


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {
        "multimail_settings": MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05),
        "openai_settings": OpenAIEmulatorSettings(model_latency=0.0, scripts=SCRIPTS),
    }


def _loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return host == "localhost"
    return True  # a Unix socket never leaves the machine


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Tracing off, and every connection recorded; one off loopback fails the test."""
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    set_tracing_disabled(True)
    seen: list[Any] = []
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def watched_connect(sock: socket.socket, address: Any) -> None:
        seen.append(address)
        connect(sock, address)

    def watched_connect_ex(sock: socket.socket, address: Any) -> int:
        seen.append(address)
        return connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", watched_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", watched_connect_ex)
    yield seen
    outside = [address for address in seen if not _loopback(address)]
    assert not outside, f"connections left loopback: {outside}"


@pytest.fixture
async def async_dispatcher(sandbox: Sandbox) -> AsyncIterator[AsyncDispatcher]:
    async with AsyncMultiMailClient(
        api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, retry=FAST_RETRY
    ) as client:
        yield AsyncDispatcher(
            client, mailbox_id=sandbox.mailbox_id, audit=None, approvals=FAST_APPROVALS
        )


@pytest.fixture
def sync_dispatcher(sandbox: Sandbox) -> Iterator[Dispatcher]:
    with MultiMailClient(
        api_key=sandbox.keys["send"], base_url=sandbox.multimail_url, retry=FAST_RETRY
    ) as client:
        yield Dispatcher(
            client, mailbox_id=sandbox.mailbox_id, audit=None, approvals=FAST_APPROVALS
        )


@pytest.fixture(params=["async", "sync"])
def dispatcher(
    request: pytest.FixtureRequest, async_dispatcher: AsyncDispatcher, sync_dispatcher: Dispatcher
) -> AsyncDispatcher | Dispatcher:
    """Each kind of dispatcher in turn: awaited on the loop, or run in a thread."""
    return async_dispatcher if request.param == "async" else sync_dispatcher


@pytest.fixture
def agent_for(async_openai_client: openai.AsyncOpenAI) -> Any:
    """``agent_for("handle", dispatcher)``: an Agent on the scripted model with the
    dispatcher's MultiMail tools."""

    def make(script: str, dispatcher: AsyncDispatcher | Dispatcher) -> Agent[Any]:
        return Agent(
            name="Inbox",
            instructions="Handle the inbox.",
            tools=list(multimail_tools(dispatcher)),
            model=OpenAIResponsesModel(f"scripted:{script}", async_openai_client),
        )

    return make
