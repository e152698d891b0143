"""The openai SDK's helpers, the Agents SDK's Runner, LangChain's OpenAIAssistantRunnable
and MultiMail's retired Python SDK against the sandbox, tool outputs from the library's
dispatcher."""

from __future__ import annotations

import pytest

from conformance import clients, sdk
from conformance.suite import run_clients


@pytest.mark.slow
def test_every_client_flow_passes() -> None:
    results = run_clients()

    expected = {*sdk.FLOWS, *clients.AGENTS, *clients.LANGCHAIN, *clients.MULTIMAIL_SDK}
    assert {r.item for r in results} == expected  # none skipped: the dev extra has them all
    assert [(r.client, r.item, r.reason) for r in results if not r.passed] == []
