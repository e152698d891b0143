"""`mm_assistants.tools.diff`: what a model would notice between two schema sets.

The sets are built here, small, so each kind of change is seen alone; the bundled v1 -> v2
comparison is checked at the end.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from mm_assistants.tools import SCHEMA_VERSIONS, load_registry
from mm_assistants.tools.diff import (
    Parameter,
    ParameterChange,
    SchemaDiff,
    ToolChange,
    ToolFacts,
    ToolSummary,
    diff_registries,
    diff_tools,
    parameters_of,
    tool_facts,
)
from mm_assistants.tools.endpoints import Endpoint

READ = Endpoint("GET", "/v1/things", "read", "read", idempotent=True)


def params(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


def tool(
    name: str,
    properties: dict[str, Any] | None = None,
    *,
    endpoint: Endpoint = READ,
    description: str = "Does a thing.",
    title: str | None = None,
    annotations: dict[str, bool] | None = None,
) -> ToolFacts:
    return ToolFacts(
        name=name,
        description=description,
        parameters=params(properties or {}),
        endpoint=endpoint,
        title=title,
        annotations=annotations,
    )


def diff(old: list[ToolFacts], new: list[ToolFacts]) -> SchemaDiff:
    return diff_tools(
        {t.name: t for t in old}, {t.name: t for t in new}, old_version="a", new_version="b"
    )


def lines(result: SchemaDiff) -> list[str]:
    return result.describe().splitlines()[1:]  # after the summary line


def one_change(old: dict[str, Any], new: dict[str, Any]) -> ToolChange:
    (change,) = diff([tool("t", old)], [tool("t", new)]).changed
    return change


STRING = {"type": "string", "description": "s"}
OPTIONAL_STRING = {"type": ["string", "null"], "description": "s"}
OPTIONAL_BOOL = {"type": ["boolean", "null"], "description": "b"}


# -- tools added, removed, unchanged ----------------------------------------------------


def test_identical_sets_report_nothing() -> None:
    same = [tool("a", {"x": STRING}), tool("b")]
    result = diff(same, same)
    assert result == SchemaDiff("a", "b")
    assert result.describe() == "schemas a -> b: 0 tools added, 0 removed, 0 changed"
    assert result.to_json() == {
        "old_version": "a",
        "new_version": "b",
        "added": [],
        "removed": [],
        "changed": [],
    }


def test_added_and_removed_tools_come_in_name_order_with_their_route() -> None:
    spam = Endpoint("POST", "/v1/emails/{email_id}/report-spam", "send", "write")
    old = [tool("keep"), tool("zeta"), tool("gone", endpoint=READ)]
    new = [
        tool("keep"),
        tool("report_spam", endpoint=spam, title="Report spam message"),
        tool("list_spam", title="List spam"),
    ]
    result = diff(old, new)
    assert result.describe().splitlines() == [
        "schemas a -> b: 2 tools added, 2 removed, 0 changed",
        "added tool list_spam (List spam): GET /v1/things, scope read",
        "added tool report_spam (Report spam message): POST /v1/emails/{email_id}/report-spam, "
        "scope send",
        "removed tool gone: was GET /v1/things, scope read",
        "removed tool zeta: was GET /v1/things, scope read",
    ]
    data = result.to_json()
    assert [t["name"] for t in data["added"]] == ["list_spam", "report_spam"]
    assert data["added"][1] == {
        "name": "report_spam",
        "title": "Report spam message",
        "method": "POST",
        "path": "/v1/emails/{email_id}/report-spam",
        "scope": "send",
        "effect": "write",
    }
    assert data["removed"] == [
        {
            "name": name,
            "title": None,
            "method": "GET",
            "path": "/v1/things",
            "scope": "read",
            "effect": "read",
        }
        for name in ("gone", "zeta")
    ]
    assert data["changed"] == []


def test_a_tool_summary_names_its_title_only_when_it_has_one() -> None:
    assert ToolSummary("x", None, "GET", "/p", "read", "read").named() == "x"
    assert ToolSummary("x", "X", "GET", "/p", "read", "read").named() == "x (X)"


# -- parameters ---------------------------------------------------------------------------


def test_new_parameters_say_whether_the_model_must_give_them() -> None:
    old = [tool("update_mailbox", {"name": STRING}), tool("resend_confirmation")]
    new = [
        tool("update_mailbox", {"name": STRING, "ai_disclosure": OPTIONAL_BOOL}),
        tool("resend_confirmation", {"oversight_email": {**STRING, "format": "email"}}),
    ]
    result = diff(old, new)
    assert lines(result) == [
        "resend_confirmation: new required parameter oversight_email (string)",
        "update_mailbox: new optional parameter ai_disclosure (boolean)",
    ]
    first, second = result.to_json()["changed"]
    assert first == {
        "name": "resend_confirmation",
        "parameters": [
            {
                "name": "oversight_email",
                "change": "added",
                "type": "string",
                "required": True,
                "enum": None,
                "limits": {"format": "email"},
            }
        ],
    }
    assert second["parameters"][0]["required"] is False


def test_a_removed_parameter_is_named_with_what_it_was() -> None:
    change = one_change({"keep": STRING, "url": {**STRING, "maxLength": 9}}, {"keep": STRING})
    assert change.sentences() == ["t: parameter url removed"]
    assert change.to_json() == {
        "name": "t",
        "parameters": [
            {
                "name": "url",
                "change": "removed",
                "type": "string",
                "required": True,
                "enum": None,
                "limits": {"maxLength": 9},
            }
        ],
    }


@pytest.mark.parametrize(
    ("old", "new", "sentence", "data"),
    [
        pytest.param(
            STRING,
            OPTIONAL_STRING,
            "t: parameter p is now optional (was required)",
            {"required": {"old": True, "new": False}},
            id="required-to-optional",
        ),
        pytest.param(
            OPTIONAL_STRING,
            STRING,
            "t: parameter p is now required (was optional)",
            {"required": {"old": False, "new": True}},
            id="optional-to-required",
        ),
        pytest.param(
            STRING,
            {"type": "integer", "description": "n"},
            "t: parameter p type changed from string to integer",
            {"type": {"old": "string", "new": "integer"}},
            id="type",
        ),
        pytest.param(
            {"type": "array", "items": STRING, "description": "a"},
            {"type": "array", "items": {"type": "integer"}, "description": "a"},
            "t: parameter p type changed from array of string to array of integer",
            {"type": {"old": "array of string", "new": "array of integer"}},
            id="item-type",
        ),
        pytest.param(
            {**STRING, "enum": ["a", "b"]},
            {**STRING, "enum": ["b", "c", "d"]},
            None,
            {"enum_added": ["c", "d"], "enum_removed": ["a"]},
            id="enum-values",
        ),
        pytest.param(
            STRING,
            {**STRING, "enum": ["x", "y"]},
            "t: parameter p is now limited to x, y",
            {"enum": {"old": None, "new": ["x", "y"]}},
            id="enum-introduced",
        ),
        pytest.param(
            {**STRING, "enum": ["x"]},
            STRING,
            "t: parameter p is no longer limited to a list of values",
            {"enum": {"old": ["x"], "new": None}},
            id="enum-dropped",
        ),
        pytest.param(
            {**STRING, "maxLength": 200},
            {**STRING, "maxLength": 500},
            "t: parameter p maxLength changed from 200 to 500",
            {"limits": {"maxLength": {"old": 200, "new": 500}}},
            id="limit-changed",
        ),
        pytest.param(
            {"type": "array", "description": "a"},
            {"type": "array", "minItems": 1, "description": "a"},
            "t: parameter p minItems set to 1 (was unset)",
            {"limits": {"minItems": {"old": None, "new": 1}}},
            id="limit-set",
        ),
        pytest.param(
            STRING,
            {**STRING, "pattern": "^[a-z]+$"},
            "t: parameter p pattern set",
            {"limits": {"pattern": {"old": None, "new": "^[a-z]+$"}}},
            id="pattern-set",
        ),
        pytest.param(
            {**STRING, "pattern": "^a$"},
            {**STRING, "pattern": "^[a-z]+$"},
            "t: parameter p pattern changed",
            {"limits": {"pattern": {"old": "^a$", "new": "^[a-z]+$"}}},
            id="pattern-changed",
        ),
        pytest.param(
            {"type": "array", "items": {**STRING, "pattern": "^a$"}, "description": "a"},
            {"type": "array", "items": STRING, "description": "a"},
            "t: parameter p items.pattern removed",
            {"limits": {"items.pattern": {"old": "^a$", "new": None}}},
            id="item-pattern-removed",
        ),
        pytest.param(
            {"type": "integer", "minimum": 1, "description": "n"},
            {"type": "integer", "description": "n"},
            "t: parameter p minimum removed (was 1)",
            {"limits": {"minimum": {"old": 1, "new": None}}},
            id="limit-removed",
        ),
        pytest.param(
            {"type": "array", "items": STRING, "maxItems": 5, "description": "a"},
            {
                "type": "array",
                "items": {**STRING, "maxLength": 9},
                "maxItems": 5,
                "description": "a",
            },
            "t: parameter p items.maxLength set to 9 (was unset)",
            {"limits": {"items.maxLength": {"old": None, "new": 9}}},
            id="item-limit",
        ),
    ],
)
def test_one_changed_parameter(
    old: dict[str, Any], new: dict[str, Any], sentence: str | None, data: dict[str, Any]
) -> None:
    change = one_change({"p": old}, {"p": new})
    (parameter,) = change.parameters
    assert parameter.change == "changed"
    assert parameter.to_json() == {"name": "p", "change": "changed", **data}
    if sentence is not None:
        assert change.sentences() == [sentence]


def test_enum_values_added_and_removed_read_as_sentences() -> None:
    change = one_change(
        {"p": {**STRING, "enum": ["a", "b", None]}}, {"p": {**STRING, "enum": ["b", "c", True]}}
    )
    assert change.sentences() == [
        "t: parameter p accepts new values c, true",
        "t: parameter p no longer accepts a",
    ]


def test_null_in_an_enum_is_optionality_not_a_value() -> None:
    change = one_change(
        {"p": {**STRING, "enum": ["a"]}}, {"p": OPTIONAL_STRING | {"enum": ["a", None]}}
    )
    (parameter,) = change.parameters
    assert parameter.enum_added == ()
    assert parameter.enum_removed == ()
    assert change.sentences() == ["t: parameter p is now optional (was required)"]


def test_several_changes_to_one_parameter_each_get_a_sentence() -> None:
    old = {**STRING, "enum": ["a"], "maxLength": 3, "minLength": 1}
    new = {"type": ["integer", "null"], "enum": [1], "maximum": 9, "minLength": 2}
    change = one_change({"p": old}, {"p": new})
    assert change.sentences() == [
        "t: parameter p type changed from string to integer",
        "t: parameter p is now optional (was required)",
        "t: parameter p accepts new values 1",
        "t: parameter p no longer accepts a",
        "t: parameter p maxLength removed (was 3)",
        "t: parameter p maximum set to 9 (was unset)",
        "t: parameter p minLength changed from 1 to 2",
    ]


def test_nested_parameters_are_compared_by_path() -> None:
    def nested(extra: dict[str, Any]) -> dict[str, Any]:
        inner = params({"sender": OPTIONAL_STRING, **extra})
        return {
            "filter": {"anyOf": [{**inner, "description": "f"}, {"type": "null"}]},
            "tags": {
                "type": ["array", "null"],
                "description": "t",
                "items": params({"key": STRING, **extra}),
            },
        }

    change = one_change(nested({}), nested({"limit": STRING}))
    assert change.sentences() == [
        "t: new required parameter filter.limit (string)",
        "t: new required parameter tags[].limit (string)",
    ]


def test_parameters_of_reads_type_requirement_enum_and_limits() -> None:
    schema = params(
        {
            "to": {
                "type": "array",
                "description": "r",
                "maxItems": 50,
                "items": {"type": "string", "format": "email"},
            },
            "mode": {"type": ["string", "null"], "enum": ["a", "b", None], "description": "m"},
            "when": {"anyOf": [{"type": "string", "maxLength": 30}, {"type": "null"}]},
            "scopes": {"type": "array", "items": {"type": "string", "enum": ["read", "send"]}},
            "free": {"description": "anything"},
            "listed": STRING,
            "unlisted": STRING,
            "filter": params({"inner": OPTIONAL_STRING}),
        },
        required=["to", "mode", "when", "scopes", "free", "listed", "filter"],
    )
    assert parameters_of(schema) == {
        "to": Parameter(
            "array of string", True, None, (("items.format", "email"), ("maxItems", 50))
        ),
        "mode": Parameter("string", False, ("a", "b")),
        "when": Parameter("string", False, None, (("maxLength", 30),)),
        "scopes": Parameter("array of string", True, ("read", "send")),
        "free": Parameter("any", True),
        "listed": Parameter("string", True),
        "unlisted": Parameter("string", False),
        "filter": Parameter("object", True),
        "filter.inner": Parameter("string", False),
    }


def test_a_type_union_reads_in_name_order() -> None:
    schema = params({"p": {"anyOf": [{"type": "string"}, {"type": "integer"}], "description": "x"}})
    assert parameters_of(schema)["p"].type == "integer or string"


def test_parameter_json_lists_limits_by_name() -> None:
    parameter = Parameter("string", False, ("a",), (("maxLength", 9), ("pattern", "x")))
    assert parameter.to_json() == {
        "type": "string",
        "required": False,
        "enum": ["a"],
        "limits": {"maxLength": 9, "pattern": "x"},
    }
    assert json.dumps(Parameter("string", True).to_json()) == (
        '{"type": "string", "required": true, "enum": null, "limits": {}}'
    )


def test_a_parameter_change_reports_what_kind_it_is() -> None:
    one = Parameter("string", True)
    assert ParameterChange("t", "p", None, one).change == "added"
    assert ParameterChange("t", "p", one, None).change == "removed"
    assert ParameterChange("t", "p", one, one).change == "changed"
    assert ParameterChange("t", "p", None, one).limits == ()
    assert ParameterChange("t", "p", None, Parameter("s", True, ("a",))).enum_added == ()


# -- endpoint, description, title, annotations --------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        pytest.param("method", "POST", "GET to POST", id="method"),
        pytest.param("path", "/v1/others", "/v1/things to /v1/others", id="path"),
        pytest.param("scope", "admin", "read to admin", id="scope"),
        pytest.param("effect", "write", "read to write", id="effect"),
        pytest.param("idempotent", False, "true to false", id="idempotent"),
    ],
)
def test_endpoint_changes(key: str, value: Any, words: str) -> None:
    result = diff([tool("t")], [tool("t", endpoint=replace(READ, **{key: value}))])
    assert lines(result) == [f"t: {key} changed from {words}"]
    endpoint = {key: {"old": getattr(READ, key), "new": value}}
    assert result.to_json()["changed"] == [{"name": "t", "endpoint": endpoint}]


def test_a_change_the_request_does_not_show_is_not_reported() -> None:
    quiet = Endpoint("GET", "/v1/things", "read", "read", idempotent=True, query=("x",))
    assert diff([tool("t")], [tool("t", endpoint=quiet)]).changed == ()


def test_a_new_description_is_flagged_not_quoted() -> None:
    result = diff([tool("t")], [tool("t", description="Does it better.")])
    assert lines(result) == ["t: description changed"]
    assert result.to_json()["changed"] == [{"name": "t", "description_changed": True}]


def test_labels_gained_are_counted_once_and_labels_changed_are_told() -> None:
    hints = {"readOnlyHint": True, "idempotentHint": True}
    old = [tool("a"), tool("b"), tool("c", title="Old", annotations=hints)]
    new = [
        tool("a", title="A", annotations=hints),
        tool("b", title="B"),
        tool("c", title="New", annotations={"readOnlyHint": False, "idempotentHint": True}),
    ]
    result = diff(old, new)
    assert result.describe().splitlines() == [
        "schemas a -> b: 0 tools added, 0 removed, 3 changed",
        "c: title changed from Old to New",
        "c: annotation readOnlyHint changed from true to false",
        "2 tools gained a title and 1 gained MCP annotations (neither is sent to OpenAI)",
    ]
    a, b, _ = result.changed
    assert a.sentences() == [
        "a: title changed from unset to A",
        "a: annotation readOnlyHint changed from unset to true",
        "a: annotation idempotentHint changed from unset to true",
    ]
    assert a.sentences(labels=False) == []
    assert b.annotations == ()
    assert result.to_json()["changed"][2] == {
        "name": "c",
        "title": {"old": "Old", "new": "New"},
        "annotations": {"readOnlyHint": {"old": True, "new": False}},
    }


def test_an_annotation_only_gained_is_counted_without_a_title() -> None:
    result = diff([tool("a")], [tool("a", annotations={"destructiveHint": True})])
    assert result.describe().splitlines()[1:] == [
        "0 tools gained a title and 1 gained MCP annotations (neither is sent to OpenAI)"
    ]


def test_a_lost_title_is_told() -> None:
    result = diff([tool("a", title="A")], [tool("a")])
    assert lines(result) == ["a: title changed from A to unset"]


def test_tool_facts_reads_the_optional_labels() -> None:
    bare = {"name": "t", "description": "d", "parameters": params({})}
    facts = tool_facts(bare, READ)
    assert facts == ToolFacts("t", "d", params({}), READ)
    labelled = tool_facts({**bare, "title": "T", "annotations": {"readOnlyHint": True}}, READ)
    assert (labelled.title, labelled.annotations) == ("T", {"readOnlyHint": True})


# -- the bundled sets ---------------------------------------------------------------------


def test_a_bundled_set_against_itself_is_unchanged() -> None:
    registry = load_registry("v1")
    assert diff_registries(registry, registry) == SchemaDiff("v1", "v1")


needs_v2 = pytest.mark.skipif("v2" not in SCHEMA_VERSIONS, reason="schemas/v2 not bundled yet")


@needs_v2
def test_v1_to_v2_names_the_new_tools_and_the_changed_parameters() -> None:
    result = diff_registries(load_registry("v1"), load_registry("v2"))
    assert [tool.name for tool in result.added] == [
        "cancel_subscription",
        "create_account",
        "get_billing_portal",
        "list_spam",
        "not_spam",
        "report_spam",
        "request_challenge",
        "upgrade_plan",
    ]
    assert result.removed == ()
    text = result.describe().splitlines()
    assert text[0].startswith("schemas v1 -> v2: 8 tools added, 0 removed, ")
    assert "resend_confirmation: new required parameter oversight_email (string)" in text
    for name in ("create_mailbox", "update_mailbox", "configure_mailbox"):
        assert f"{name}: new optional parameter ai_disclosure (boolean)" in text
    assert "read_email: effect changed from read to write" in text
    assert "resend_confirmation: idempotent changed from true to false" in text
    assert any(line.startswith("added tool report_spam (") for line in text)
    assert text[-1].startswith("38 tools gained a title and 38 gained MCP annotations")
    assert json.loads(json.dumps(result.to_json())) == result.to_json()


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param({"type": "array"}, "array", id="array-without-items"),
        pytest.param(
            {"type": "array", "items": {"type": ["string", "integer"]}},
            "array of integer or string",
            id="array-of-a-union",
        ),
        pytest.param(
            {"type": ["string", "array"], "items": {"type": "integer"}},
            "array of integer or string",
            id="array-or-string",
        ),
    ],
)
def test_array_types_name_their_items(schema: dict[str, Any], expected: str) -> None:
    assert parameters_of(params({"p": {**schema, "description": "x"}}))["p"].type == expected


def test_the_first_branch_that_lists_values_gives_the_enum() -> None:
    first = {"type": "array", "items": {"type": "string", "enum": ["a"]}}
    second = {"type": "array", "items": {"type": "string", "enum": ["b"]}}
    schema = params({"p": {"anyOf": [first, second], "description": "x"}})
    assert parameters_of(schema)["p"].enum == ("a",)
