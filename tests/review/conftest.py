"""What the review tests share: a fast sandbox and a way to hold a send for approval."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox


@pytest.fixture
def mm_sandbox_options() -> dict[str, Any]:
    return {
        "multimail_settings": MultiMailSandboxSettings(scan_delay=0.0, settle_interval=0.05),
        "openai_settings": OpenAIEmulatorSettings(model_latency=0.0, poll_after_ms=20),
    }


def hold(
    sandbox: Sandbox,
    subject: str = "Quarterly numbers",
    markdown: str = "Hi Bob,\n\nthe numbers are in.",
    to: tuple[str, ...] = ("bob@example.com",),
) -> str:
    """Send from the seeded ``gated_send`` mailbox with its send key; the held email's id."""
    answer = httpx.post(
        f"{sandbox.multimail_url}/v1/mailboxes/{sandbox.mailbox_id}/send",
        json={"to": list(to), "subject": subject, "markdown": markdown},
        headers={"Authorization": f"Bearer {sandbox.keys['send']}"},
        timeout=5,
    )
    answer.raise_for_status()
    email_id: str = answer.json()["id"]
    return email_id


def status_of(sandbox: Sandbox, email_id: str) -> str:
    """The email's status as the sandbox stores it now."""
    email = sandbox.multimail.email(email_id)
    assert email is not None
    return str(email["status"])


def page_headers(sandbox: Sandbox) -> dict[str, str]:
    """The headers the sandbox's review page sends with a decision: its token included."""
    page = httpx.get(f"{sandbox.base_url}/review/", timeout=5)
    match = re.search(r'data-review-token="([^"]+)"', page.text)
    assert match, "the review page carries no token"
    return {"X-Review-Request": "1", "X-Review-Token": match.group(1)}
