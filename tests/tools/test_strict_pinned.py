"""Strict-mode rules pinned (issue 14): the exact problem list for a schema that breaks
each rule once, the depth limit at its edge, what admits null, and the accepting form the
dispatcher validates with (computed here, not through the registry's cache)."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.tools.strict import MAX_DEPTH, accepting_form, admits_null, strict_problems

D = "d"


def test_every_rule_broken_once_is_reported_once_with_its_path() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {
                "type": "array",
                "description": D,
                "items": {
                    "type": "object",
                    "properties": {"b": {"type": "string"}},
                    "required": ["b", "ghost"],
                },
            },
            "c": {"type": "string", "format": "uri", "description": D, "default": "x"},
            "u": {
                "description": D,
                "anyOf": [{"type": "null"}, {"type": "string", "format": "email"}, {"not": {}}],
            },
            "o": {"type": "object", "description": D, "additionalProperties": True},
            # properties without "type": "object" are still an object's
            "p": {
                "properties": {"z": {"type": "string", "description": D}},
                "description": D,
                "additionalProperties": False,
            },
        },
        "required": ["a", "u"],
        "additionalProperties": False,
    }
    assert strict_problems(schema) == [
        "parameters: every property must be listed in required (not required: c, o, p)",
        "parameters.a[]: objects must set additionalProperties to false",
        "parameters.a[]: every property must be listed in required (required but undefined: ghost)",
        "parameters.a[].b: every property needs a description",
        "parameters.c: keyword 'default' is not allowed in strict mode",
        "parameters.c: format 'uri' is not supported in strict mode",
        "parameters.u|2: keyword 'not' is not allowed in strict mode",
        "parameters.o: objects must set additionalProperties to false",
        "parameters.p: every property must be listed in required (not required: z)",
    ]


def test_missing_and_undefined_required_are_both_named() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "description": D},
            "b": {"type": "string", "description": D},
        },
        "required": ["b", "z", "y"],
        "additionalProperties": False,
    }
    assert strict_problems(schema, where="send_email") == [
        "send_email: every property must be listed in required "
        "(not required: a; required but undefined: y, z)"
    ]


def test_a_good_schema_has_no_problems() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": ["string", "null"], "description": D, "format": "date"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    assert strict_problems(schema) == []
    assert strict_problems({"type": "array"}) == ["parameters: the root must be an object schema"]


def nested(levels: int) -> dict[str, Any]:
    """An object schema ``levels`` objects deep (the root counts as one)."""
    inner: dict[str, Any] = {"type": "string", "description": D}
    for _ in range(levels - 1):
        inner = {
            "type": "object",
            "description": D,
            "properties": {"x": inner},
            "required": ["x"],
            "additionalProperties": False,
        }
    return {
        "type": "object",
        "properties": {"x": inner},
        "required": ["x"],
        "additionalProperties": False,
    }


def test_the_depth_limit_is_exact() -> None:
    assert strict_problems(nested(MAX_DEPTH - 1)) == []
    deep = strict_problems(nested(MAX_DEPTH))
    assert deep == ["parameters" + ".x" * MAX_DEPTH + f": nested deeper than {MAX_DEPTH} levels"]
    # an array's items are one level below the array: root 1, l 2, items 3
    assert strict_problems(in_a_list(nested(MAX_DEPTH - 3))) == []
    too_deep = strict_problems(in_a_list(nested(MAX_DEPTH - 2)))
    assert too_deep == [
        "parameters.l[]" + ".x" * (MAX_DEPTH - 2) + f": nested deeper than {MAX_DEPTH} levels"
    ]


def in_a_list(items: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"l": {"type": "array", "items": items, "description": D}},
        "required": ["l"],
        "additionalProperties": False,
    }


@pytest.mark.parametrize(
    ("schema", "nullable"),
    [
        pytest.param({"type": "null"}, True, id="null"),
        pytest.param({"type": ["string", "null"]}, True, id="list"),
        pytest.param({"anyOf": [{"type": "string"}, {"type": "null"}]}, True, id="any-of"),
        pytest.param({"anyOf": [{"anyOf": [{"type": "null"}]}]}, True, id="nested"),
        pytest.param({"type": "string"}, False, id="string"),
        pytest.param({"type": "nullable"}, False, id="a-word-holding-null"),
        pytest.param({"anyOf": [{"type": "string"}]}, False, id="any-of-without"),
        pytest.param({}, False, id="empty"),
    ],
)
def test_admits_null(schema: dict[str, Any], nullable: bool) -> None:
    assert admits_null(schema) is nullable


def test_the_accepting_form_makes_only_nullable_properties_optional_at_every_level() -> None:
    schema = {
        "type": "object",
        "properties": {
            "must": {"type": "string", "minLength": 1},
            "may": {"type": ["string", "null"]},
            "list": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"k": {"type": "string"}, "v": {"type": ["string", "null"]}},
                    "required": ["k", "v"],
                },
            },
            "either": {
                "anyOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "properties": {"q": {"type": ["integer", "null"]}},
                        "required": ["q"],
                    },
                ]
            },
        },
        "required": ["must", "may", "list", "either"],
    }
    accepting = accepting_form(schema)
    assert accepting["required"] == ["must", "list"]
    assert accepting["properties"]["must"] == {"type": "string", "minLength": 1}
    assert accepting["properties"]["list"]["items"]["required"] == ["k"]
    assert accepting["properties"]["either"]["anyOf"][1]["required"] == []
    assert schema["required"] == ["must", "may", "list", "either"]  # the input is untouched
    assert schema["properties"]["list"]["items"]["required"] == ["k", "v"]
    assert accepting_form({"type": "object"}) == {"type": "object"}
    # an object that lists no required properties requires none
    assert accepting_form({"properties": {"a": {"type": "string"}}}) == {
        "properties": {"a": {"type": "string"}},
        "required": [],
    }
