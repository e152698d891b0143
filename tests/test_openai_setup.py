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
    ToolRegistry,
    _sunset,
    create_assistant,
    load_registry,
    update_assistant_tools,
)
from mm_assistants.openai_setup import (
    multimail_names,
    pick_registry,
    recorded_tool_set,
    tool_set_metadata,
    with_schema_version,
    with_tool_set,
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


def names_of(tools: list[dict[str, Any]]) -> list[str]:
    return [t.get("function", {}).get("name", t["type"]) for t in tools]


def function(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


def updating(current: dict[str, Any]) -> FakeOpenAI:
    return FakeOpenAI(
        {
            ("GET", "/assistants/asst_1"): current,
            ("POST", "/assistants/asst_1"): assistant([]),
        }
    )


def test_create_on_v2_sends_v2_tools_and_records_the_version() -> None:
    fake = FakeOpenAI({("POST", "/assistants"): assistant([])})
    with pytest.warns(AssistantsSunsetWarning):
        create_assistant(fake.client(), model="m", version="v2", metadata={"team": "ops"})
    create_assistant(fake.client(), model="m")
    v2, default = (body for _, _, body in fake.requests)
    assert v2["tools"] == load_registry("v2").tools("assistants")
    assert "report_spam" in names_of(v2["tools"])
    assert v2["metadata"] == {"team": "ops", "mm_schema_version": "v2", "mm_profile": "agent"}
    assert default["tools"] == load_registry("v1").tools("assistants")
    assert default["metadata"] == {"mm_schema_version": "v1", "mm_profile": "agent"}


def test_update_to_v2_swaps_every_multimail_tool_and_keeps_the_rest() -> None:
    current = assistant(
        [
            {"type": "code_interpreter"},
            function("lookup_order"),
            function("send_email"),  # a v1 MultiMail tool
            function("list_spam"),  # a v2 name, not in the agent profile
            {"type": "file_search"},
        ]
    )
    current["metadata"] = {"team": "ops", "mm_schema_version": "v1"}
    fake = updating(current)
    with pytest.warns(AssistantsSunsetWarning):
        update_assistant_tools(fake.client(), "asst_1", version="v2")
    body = fake.requests[-1][2]
    expected = load_registry("v2").tools("assistants")
    assert body["tools"][:3] == [
        {"type": "code_interpreter"},
        function("lookup_order"),
        {"type": "file_search"},
    ]
    assert body["tools"][3:] == expected
    assert "list_spam" not in names_of(body["tools"])
    assert body["metadata"] == {"team": "ops", "mm_schema_version": "v2", "mm_profile": "agent"}


def test_a_user_function_named_like_a_multimail_tool_is_replaced() -> None:
    mine = {
        "type": "function",
        "function": {"name": "report_spam", "parameters": {"type": "object", "properties": {}}},
    }
    fake = updating(assistant([mine]))
    with pytest.warns(AssistantsSunsetWarning):
        update_assistant_tools(fake.client(), "asst_1", version="v2", tools=["read_email"])
    assert fake.requests[-1][2]["tools"] == load_registry("v2").tools(
        "assistants", tools=["read_email"]
    )


def test_the_names_removed_are_those_of_every_bundled_set_and_the_registry() -> None:
    everything = set(load_registry("v1")) | set(load_registry("v2"))
    assert multimail_names() == everything
    custom = ToolRegistry([], version="mine")
    assert multimail_names(custom) == everything
    registry = load_registry("v1")
    assert multimail_names(registry) == everything


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(
            None, {"team": "ops", "mm_schema_version": "v2", "mm_profile": "agent"}, id="kept"
        ),
        pytest.param(
            {"owner": "ana"},
            {"team": "ops", "owner": "ana", "mm_schema_version": "v2", "mm_profile": "agent"},
            id="merged",
        ),
        pytest.param(
            {"mm_schema_version": "pinned", "team": "sales"},
            {"team": "sales", "mm_schema_version": "pinned", "mm_profile": "agent"},
            id="the-caller-sets-it",
        ),
        pytest.param(
            {"mm_profile": "mine"},
            {"team": "ops", "mm_schema_version": "v2", "mm_profile": "mine"},
            id="the-caller-sets-the-profile",
        ),
    ],
)
def test_update_merges_metadata(given: dict[str, str] | None, expected: dict[str, str]) -> None:
    current = assistant([])
    current["metadata"] = {"team": "ops", "mm_schema_version": "v1"}
    fake = updating(current)
    extra: dict[str, Any] = {} if given is None else {"metadata": given}
    with pytest.warns(AssistantsSunsetWarning):
        update_assistant_tools(fake.client(), "asst_1", version="v2", **extra)
    assert fake.requests[-1][2]["metadata"] == expected


def test_metadata_full_of_other_keys_is_refused_before_any_change() -> None:
    current = assistant([function("send_email")])
    current["metadata"] = {f"k{i}": "v" for i in range(16)}
    fake = updating(current)
    with (
        pytest.warns(AssistantsSunsetWarning),
        pytest.raises(ValueError, match=r"would hold 17 keys .* at most 16: remove some"),
    ):
        update_assistant_tools(fake.client(), "asst_1", version="v2")
    assert [(method, path) for method, path, _ in fake.requests] == [("GET", "/assistants/asst_1")]
    # with the version among the caller's 16, nothing is added and the update goes through
    own = {**{f"k{i}": "v" for i in range(15)}, "mm_schema_version": "v2"}
    assert with_schema_version(None, own, "v2") == own  # 16 keys: nothing added
    with pytest.raises(ValueError, match="at most 16"):
        create_assistant(fake.client(), model="m", metadata={f"k{i}": "v" for i in range(16)})


def test_version_and_registry_must_agree() -> None:
    fake = FakeOpenAI({})
    with pytest.raises(ValueError, match=r"version='v2' and registry= \(schema set 'v1'\)"):
        create_assistant(fake.client(), model="m", version="v2", registry=load_registry("v1"))
    with pytest.raises(ValueError, match="disagree"):
        update_assistant_tools(fake.client(), "asst_1", version="v1", registry=load_registry("v2"))
    with pytest.raises(ValueError, match="unknown schema version 'v9'"):
        create_assistant(fake.client(), model="m", version="v9")
    assert fake.requests == []
    v2 = load_registry("v2")
    assert pick_registry("v2", v2) is v2
    assert pick_registry(None, v2) is v2
    assert pick_registry(None, None).version == "v1"
    assert pick_registry("v2", None) is v2


def test_the_tool_set_is_recorded_and_read_back() -> None:
    fake = FakeOpenAI({("POST", "/assistants"): assistant([])})
    with pytest.warns(AssistantsSunsetWarning):
        create_assistant(fake.client(), model="m", version="v2", profile="signup")
    create_assistant(fake.client(), model="m", tools=["read_email", "check_inbox"])
    signup, listed = (body["metadata"] for _, _, body in fake.requests)
    assert signup == {"mm_schema_version": "v2", "mm_profile": "signup"}
    assert listed == {"mm_schema_version": "v1", "mm_tools": "read_email,check_inbox"}
    assert recorded_tool_set(signup) == ("signup", None)
    assert recorded_tool_set(listed) == (None, ("read_email", "check_inbox"))
    assert recorded_tool_set({"mm_schema_version": "v1"}) == (None, None)
    assert recorded_tool_set(None) == (None, None)


def test_a_list_longer_than_one_value_continues_in_numbered_keys() -> None:
    everything = list(load_registry("v2"))
    record = tool_set_metadata(None, everything)
    assert list(record) == ["mm_tools", "mm_tools_2"]  # 673 characters: two values
    assert all(len(value) <= 512 for value in record.values())
    assert recorded_tool_set({"team": "ops", **record}) == (None, tuple(everything))


def test_an_update_replaces_the_old_record_of_the_tool_set() -> None:
    current = assistant([])
    current["metadata"] = {
        "mm_schema_version": "v1",
        "mm_tools": "read_email",
        "mm_tools_2": "check_inbox",
        "mm_tools_note": "mine",  # not a continuation: kept
    }
    fake = updating(current)
    with pytest.warns(AssistantsSunsetWarning):
        update_assistant_tools(fake.client(), "asst_1", version="v2", profile="reviewer")
    assert fake.requests[-1][2]["metadata"] == {
        "mm_schema_version": "v2",
        "mm_tools_note": "mine",
        "mm_profile": "reviewer",
    }


def test_no_room_for_the_tool_set_records_only_the_version() -> None:
    # 15 keys of the caller's: the version still fits (as before), the tool set does not
    own = {f"k{i}": "v" for i in range(15)}
    merged = with_tool_set({"mm_profile": "agent"}, own, "v2", "reviewer", None)
    assert merged == {**own, "mm_schema_version": "v2"}  # the stale agent record is gone too
    assert (
        with_tool_set(None, {f"k{i}": "v" for i in range(14)}, "v2", "signup", None)["mm_profile"]
        == "signup"
    )
