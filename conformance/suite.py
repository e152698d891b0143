"""The whole suite in one call: MultiMail's MCP servers, schemathesis, the SDK clients.

`run_suite` starts what each part needs (a fresh sandbox per part, so that one part's
writes cannot make another pass or fail) and returns every `Result`. `SIZES` holds the two
sizes: ``full`` (``make conformance``) and ``quick`` (a smaller schemathesis budget).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec

from conformance import clients, sdk
from conformance.fixtures import sandbox_with_mail
from conformance.mcp_run import run_mcp
from conformance.openapi import run_openapi
from conformance.report import Result

#: MultiMail's published MCP server versions the suite builds and drives.
MCP_VERSIONS = ("0.7.0-spam", "0.5.3")


@dataclass(frozen=True)
class Size:
    """How hard schemathesis tries: examples per operation and a wall-clock cap."""

    max_examples: int
    wall_clock_s: float


SIZES = {"full": Size(max_examples=25, wall_clock_s=240.0), "quick": Size(3, 30.0)}


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
                openai_url=sandbox.openai_url,
            )


def run_clients() -> list[Result]:
    """The openai SDK helpers, the Agents SDK, LangChain's runnable, MultiMail's Python SDK."""
    with rig() as shared:
        return [
            *sdk.run_flows("openai-python", "openai", sdk.FLOWS, shared),
            *_optional(shared, "openai-agents", "agents", clients.AGENTS),
            *_optional(shared, "langchain-classic", "langchain_classic", clients.LANGCHAIN),
            *_optional(shared, "multimail", "multimail", clients.MULTIMAIL_SDK),
        ]


def _optional(
    shared: sdk.Rig, package: str, module: str, flows: dict[str, Callable[[sdk.Rig], None]]
) -> list[Result]:
    """``flows`` of an installed client; one skipped result saying why when it is missing."""
    if find_spec(module) is None:
        why = f"{package} is not installed (pip install -e '.[dev]')"
        return [Result(package, "-", "(all)", False, why, skipped=True)]
    return sdk.run_flows(package, package, flows, shared)


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
