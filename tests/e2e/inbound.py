"""What the inbound-routing tests share: a scripted model that handles a notice, events
built from sandbox emails, and a wait for background work."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx

from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox
from mm_assistants.sandbox.openai_api.state import ConversationState
from mm_assistants.webhooks import EVENT_TYPES, MessageEvent, parse_event
from tests.e2e.conftest import POLL_AFTER_MS, SCRIPTS

_EMAIL_ID = re.compile(r"email_id: (\S+)")


def triage(state: ConversationState) -> dict[str, Any]:
    """Reads the email named in the newest notice; replies when its subject asks for it
    (the reply is held for approval in the gated mailbox); then says what it handled."""
    notice = state.last_user_message or ""
    found = _EMAIL_ID.findall(notice)
    email_id = found[-1] if found else "unknown"
    wants_reply = "please reply" in notice.lower()
    if state.turn == 0:
        return {"call": "read_email", "arguments": {"email_id": email_id}}
    if state.turn == 1 and wants_reply:
        return {"call": "reply_email", "arguments": {"email_id": email_id, "markdown": "Yes!"}}
    return {"say": f"Handled {email_id}"}


def options() -> dict[str, Any]:
    """`mm_sandbox_options` with the ``triage`` script."""
    return {
        "multimail_settings": MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05),
        "openai_settings": OpenAIEmulatorSettings(
            model_latency=0.0, poll_after_ms=POLL_AFTER_MS, scripts={**SCRIPTS, "triage": triage}
        ),
    }


def received(email: dict[str, Any], *, verdicts: bool = True, **extra: Any) -> MessageEvent:
    """The ``message.received`` event MultiMail would deliver for ``email``."""
    data = {
        "email_id": email["id"],
        "mailbox_id": email["mailbox_id"],
        "thread_id": email["thread_id"],
        "direction": "inbound",
        "from": email["from"],
        "subject": email["subject"],
        **extra,
    }
    if verdicts:
        for name in ("spam_verdict", "dkim", "spf", "dmarc"):
            if email.get(name) is not None:
                data[name] = email[name]
    event = parse_event({"id": f"evt_{email['id']}", "event": "message.received", "data": data})
    assert isinstance(event, MessageEvent)
    return event


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """``check()``'s first truthy value, looked for every 20 ms up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"nothing came within {timeout} s")


def subscribe_receiver(sandbox: Sandbox, path: str = "/multimail/webhooks") -> tuple[int, str]:
    """Subscribe a receiver-to-be on a free loopback port to every event: (port, secret).
    The subscription needs the URL before the receiver (which needs the secret) exists."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    subscription = operator_post(
        sandbox,
        "/v1/webhooks",
        {"url": f"http://127.0.0.1:{port}{path}", "events": list(EVENT_TYPES)},
    ).json()
    return port, str(subscription["signing_secret"])


def operator_post(sandbox: Sandbox, path: str, body: dict[str, Any]) -> httpx.Response:
    """POST ``body`` with the admin key through MultiMail's operator-code flow: the first
    call mails the operator a code (202), the second carries it."""
    flow = {"/v1/webhooks": "create_webhook", "/v1/api-keys": "create_api_key"}[path]
    headers = {"Authorization": f"Bearer {sandbox.keys['admin']}"}
    url = f"{sandbox.multimail_url}{path}"
    httpx.post(url, json=body, headers=headers, timeout=10)
    code = sandbox.multimail.approval_code(flow)
    return httpx.post(url, json={**body, "approval_code": code}, headers=headers, timeout=10)
