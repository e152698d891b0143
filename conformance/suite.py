"""The whole suite in one call: MultiMail's MCP servers, schemathesis, the SDK clients.

`run_suite` starts what each part needs (a fresh sandbox per part, so that one part's
writes cannot make another pass or fail) and returns every `Result`. `SIZES` holds the two
sizes: ``full`` (``make conformance``) and ``quick`` (a smaller schemathesis budget).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from conformance import clients, sdk
from conformance.mcp_flows import ATTACHMENT, CUSTOMER
from conformance.mcp_run import run_mcp
from conformance.openapi import run_openapi
from conformance.report import Result

if TYPE_CHECKING:
    from mm_assistants.sandbox import Sandbox

#: MultiMail's published MCP server versions the suite builds and drives.
MCP_VERSIONS = ("0.7.0-spam", "0.5.3")


@dataclass(frozen=True)
class Size:
    """How hard schemathesis tries: examples per operation and a wall-clock cap."""

    max_examples: int
    wall_clock_s: float


SIZES = {"full": Size(max_examples=25, wall_clock_s=240.0), "quick": Size(3, 30.0)}


@contextmanager
def sandbox_with_mail() -> Iterator[tuple[Sandbox, dict[str, Any]]]:
    """A fresh sandbox (no scan delay, no model latency, the SDK flows' script) and one
    inbound email with an attachment: ``(sandbox, email)``."""
    from mm_assistants.sandbox import MultiMailSandboxSettings, OpenAIEmulatorSettings, Sandbox

    with Sandbox(
        multimail_settings=MultiMailSandboxSettings(scan_delay=0.0),
        openai_settings=OpenAIEmulatorSettings(
            model_latency=0.0, poll_after_ms=sdk.POLL_MS, scripts=sdk.SCRIPTS
        ),
    ) as sandbox:
        email = sandbox.multimail.inject_inbound(
            sender=CUSTOMER,
            subject="Can we meet?",
            markdown="Thursday at 3?",
            attachments=[
                {
                    "name": "q.txt",
                    "content_type": "text/plain",
                    "content_base64": base64.b64encode(ATTACHMENT).decode(),
                }
            ],
        )
        yield sandbox, email


@contextmanager
def rig() -> Iterator[sdk.Rig]:
    """A `sdk.Rig` on a fresh `sandbox_with_mail`: the openai client, a dispatcher."""
    import openai

    from mm_assistants.dispatch import Dispatcher
    from mm_assistants.multimail import MultiMailClient
    from mm_assistants.tools import load_registry

    with sandbox_with_mail() as (sandbox, email):
        registry = load_registry("v1")
        with (
            openai.OpenAI(api_key="sk-sandbox", base_url=sandbox.openai_url) as client,
            MultiMailClient(
                api_key=sandbox.keys["send"],
                base_url=sandbox.multimail_url,
            ) as multimail,
        ):
            dispatcher = Dispatcher(
                multimail, registry=registry, mailbox_id=sandbox.mailbox_id, audit=None
            )
            yield sdk.Rig(
                openai=client,
                dispatcher=dispatcher,
                registry=registry,
                mailbox_id=sandbox.mailbox_id,
                email_id=str(email["id"]),
                control=sandbox.multimail,
                multimail_url=sandbox.multimail_url,
                api_key=sandbox.keys["admin"],
            )


def run_clients() -> list[Result]:
    """The openai SDK helpers, LangChain's runnable and MultiMail's Python SDK."""
    results = []
    with rig() as shared:
        results += sdk.run_flows("openai-python", "openai", sdk.FLOWS, shared)
        if find_spec("langchain_classic") is None:
            why = "langchain-classic is not installed (pip install 'mm-assistants[conformance]')"
            results.append(Result("langchain-classic", "-", "(all)", False, why, skipped=True))
        else:
            results += sdk.run_flows(
                "langchain-classic", "langchain-classic", clients.LANGCHAIN, shared
            )
        if find_spec("multimail") is None:
            why = "multimail (MultiMail's retired Python SDK) is not installed"
            results.append(Result("multimail (PyPI)", "-", "(all)", False, why, skipped=True))
        else:
            results += sdk.run_flows("multimail (PyPI)", "multimail", clients.MULTIMAIL_SDK, shared)
    return results


def run_schemathesis(size: Size) -> list[Result]:
    """schemathesis over every operation of MultiMail's document, ids pinned to real ones."""
    with sandbox_with_mail() as (sandbox, email):
        pinned = {
            "mailboxId": sandbox.mailbox_id,
            "emailId": str(email["id"]),
            "threadId": str(email["thread_id"]),
            "filename": "q.txt",
        }
        return run_openapi(
            sandbox.multimail_url,
            sandbox.keys["admin"],
            max_examples=size.max_examples,
            wall_clock_s=size.wall_clock_s,
            path_values=pinned,
        )


def run_suite(size: Size) -> list[Result]:
    """Every part, in report order."""
    results = []
    for version in MCP_VERSIONS:
        results += run_mcp(version)
    results += run_schemathesis(size)
    results += run_clients()
    return results
