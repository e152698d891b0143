"""The sandbox every part of the suite starts: fast settings and one email waiting.

A fresh `Sandbox` per part (no scan delay, no model latency, the SDK flows' script) with an
inbound email from a customer carrying a small text attachment, so that reading, threads,
downloads and the scripted model's "newest email" all have something real to find.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from conformance.mcp_flows import ATTACHMENT, CUSTOMER
from conformance.sdk import POLL_MS, SCRIPTS

if TYPE_CHECKING:
    from mm_assistants.sandbox import Sandbox


@contextmanager
def sandbox_with_mail() -> Iterator[tuple[Sandbox, dict[str, Any]]]:
    """A fresh sandbox (no scan delay, no model latency, the SDK flows' script) and one
    inbound email with an attachment: ``(sandbox, email)``."""
    from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox

    with Sandbox(
        multimail_settings=MultiMailSandboxSettings(scan_delay=0.0),
        openai_settings=OpenAIEmulatorSettings(
            model_latency=0.0, poll_after_ms=POLL_MS, scripts=SCRIPTS
        ),
    ) as sandbox:
        email = sandbox.multimail.inject_inbound(
            sender=CUSTOMER,
            subject="Can we meet?",
            markdown="Thursday at 3? The numbers are attached.",
            attachments=[
                {
                    "name": "q.txt",
                    "content_type": "text/plain",
                    "content_base64": base64.b64encode(ATTACHMENT).decode(),
                }
            ],
        )
        yield sandbox, email
