"""Creating and updating assistants from the bundled schemas (OpenAI faked in-process).

The openai SDK 3.x talks through httpx2, so its requests are answered by an
``httpx2.MockTransport`` rather than respx.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import openai
import pytest

from mm_assistants import (
    AssistantsSunsetWarning,
    _sunset,
    create_assistant,
    load_registry,
    update_assistant_tools,
)


def assistant(tools: list[Any]) -> dict[str, Any]:
    return {"id": "asst_1", "object": "assistant", "created_at": 1, "model": "m", "tools": tools}


class FakeOpenAI:
    """Answers (method, path) pairs and records every request body."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else None
        key = (request.method, request.url.path.removeprefix("/v1"))
        self.requests.append((*key, body))
        return httpx2.Response(200, json=self.answers[key])

    def client(self) -> openai.OpenAI:
        http = httpx2.Client(transport=httpx2.MockTransport(self))
        return openai.OpenAI(api_key="sk-test", base_url="https://openai.test/v1", http_client=http)


@pytest.fixture(autouse=True)
def fresh_warning() -> Callable[[], None]:
    _sunset.reset()
    return _sunset.reset


def test_create_assistant_sends_the_bundled_tools_and_warns_once() -> None:
    fake = FakeOpenAI({("POST", "/assistants"): assistant([])})
    oai = fake.client()
    with pytest.warns(AssistantsSunsetWarning, match="2026-08-26") as caught:
        create_assistant(oai, model="m", mailbox_id="mbx_1", name="Mail")
    create_assistant(oai, model="m", profile="reviewer")  # no second warning (errors if any)
    assert len(caught) == 1
    first, second = (body for _, _, body in fake.requests)
    assert first["tools"] == load_registry().tools("assistants", mailbox_id="mbx_1")
    assert first["name"] == "Mail"
    assert "untrusted" in first["instructions"]
    assert {t["function"]["name"] for t in second["tools"]} >= {"decide_email", "list_pending"}


def test_update_replaces_only_the_multimail_tools() -> None:
    own = {
        "type": "function",
        "function": {"name": "lookup_order", "parameters": {"type": "object"}},
    }
    stale = {"type": "function", "function": {"name": "send_email", "parameters": {}}}
    fake = FakeOpenAI(
        {
            ("GET", "/assistants/asst_1"): assistant([{"type": "code_interpreter"}, own, stale]),
            ("POST", "/assistants/asst_1"): assistant([]),
        }
    )
    with pytest.warns(AssistantsSunsetWarning):
        update_assistant_tools(fake.client(), "asst_1", profile="reviewer")
    tools = fake.requests[-1][2]["tools"]
    names = [t.get("function", {}).get("name", t["type"]) for t in tools]
    assert names[:2] == ["code_interpreter", "lookup_order"]
    assert "send_email" not in names
    assert "decide_email" in names
