"""Exports for the three OpenAI APIs, strict and relaxed, checked against the SDK's types."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types.beta import FunctionToolParam as AssistantFunctionTool
from openai.types.chat import ChatCompletionFunctionToolParam
from openai.types.responses import FunctionToolParam as ResponsesFunctionTool
from openai.types.shared_params import FunctionDefinition
from pydantic import TypeAdapter

from mm_assistants.tools import load_registry
from mm_assistants.tools.strict import admits_null, strict_problems

ALL = {"profile": "admin", "allow_self_approval": True}


@pytest.mark.parametrize(
    ("fmt", "param_type"),
    [
        pytest.param("assistants", AssistantFunctionTool, id="assistants"),
        pytest.param("chat", ChatCompletionFunctionToolParam, id="chat"),
        pytest.param("responses", ResponsesFunctionTool, id="responses"),
    ],
)
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "relaxed"])
def test_every_export_is_accepted_by_the_sdk_request_types(
    fmt: str, param_type: Any, strict: bool
) -> None:
    adapter = TypeAdapter(param_type)
    tools = load_registry().tools(fmt, strict=strict, **ALL)  # type: ignore[arg-type]
    assert len(tools) == 38
    for tool in tools:
        adapter.validate_python(tool, strict=True)
        # pydantic ignores keys a TypedDict does not declare; the API would not.
        assert set(tool) <= declared_keys(param_type)
        function = tool if fmt == "responses" else tool["function"]
        if fmt != "responses":
            assert set(function) <= declared_keys(FunctionDefinition)
        assert function["strict"] is strict
        if fmt == "responses":
            assert set(tool) == {"type", "name", "description", "parameters", "strict"}


def declared_keys(typed_dict: Any) -> set[str]:
    """The keys a TypedDict of the SDK declares."""
    return set(typed_dict.__required_keys__) | set(typed_dict.__optional_keys__)


def test_declared_keys_catches_an_unknown_key() -> None:
    tool = load_registry().tools("chat", tools=["read_email"])[0]
    tool["function"]["strictness"] = True
    TypeAdapter(ChatCompletionFunctionToolParam).validate_python(tool, strict=True)  # passes
    assert not set(tool["function"]) <= declared_keys(FunctionDefinition)  # caught here


def test_strict_export_moves_length_limits_into_the_description() -> None:
    (tool,) = load_registry().tools("responses", tools=["send_email"])
    subject = tool["parameters"]["properties"]["subject"]
    assert "maxLength" not in subject
    assert "At most 998 characters." in subject["description"]
    assert strict_problems(tool["parameters"]) == []
    # the bundled schema keeps the limit for validation
    assert load_registry()["send_email"].parameters["properties"]["subject"]["maxLength"] == 998


def test_relaxed_export_requires_only_the_required_and_drops_nulls() -> None:
    (tool,) = load_registry().tools("chat", tools=["send_email"], strict=False)
    parameters = tool["function"]["parameters"]
    assert sorted(parameters["required"]) == ["markdown", "subject", "to"]
    for schema in parameters["properties"].values():
        assert not admits_null(schema)
    assert None not in parameters["properties"]["gate_timing"]["enum"]


def test_relaxed_export_unwraps_optional_objects() -> None:
    (tool,) = load_registry().tools("chat", tools=["wait_for_email"], strict=False)
    criteria = tool["function"]["parameters"]["properties"]["filter"]
    assert criteria["type"] == "object"
    assert "anyOf" not in criteria
    assert criteria["required"] == []


def test_mailbox_id_disappears_when_the_dispatcher_fills_it() -> None:
    tools = load_registry().tools("responses", mailbox_id="mbx_1", **ALL)
    by_name = {tool["name"]: tool["parameters"] for tool in tools}
    assert "mailbox_id" not in by_name["send_email"]["properties"]
    assert "mailbox_id" not in by_name["send_email"]["required"]
    # a required mailbox_id names the target and a webhook's one is a filter: both stay
    assert "mailbox_id" in by_name["delete_mailbox"]["required"]
    assert "mailbox_id" in by_name["create_webhook"]["properties"]


def test_exports_are_copies() -> None:
    registry = load_registry()
    registry.tools("responses", tools=["send_email"])[0]["parameters"]["properties"].clear()
    assert registry.tools("responses", tools=["send_email"])[0]["parameters"]["properties"]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        load_registry().tools("xml")  # type: ignore[arg-type]


def test_more_than_128_tools_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_registry()
    monkeypatch.setattr("mm_assistants.tools.registry.MAX_TOOLS", 3)
    with pytest.raises(ValueError, match="at most 3 tools"):
        registry.tools("chat", profile="reviewer")


def test_bad_names_are_refused() -> None:
    from mm_assistants.tools.formats import export_definition

    definition = {"name": "send email", "description": "d", "parameters": {"type": "object"}}
    with pytest.raises(ValueError, match="does not match"):
        export_definition(definition, format="chat")
