"""The export forms on a definition built to reach every rule (issue 14): length limits
restated in words, the relaxed form of unions and nullable types, hidden properties, the
defaults, and the input left untouched."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mm_assistants.tools.formats import export_definition

DEFINITION: dict[str, Any] = {
    "name": "probe",
    "description": "A made-up tool.",
    "parameters": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "word", "code", "either", "kind", "mailbox_id", "nothing"],
        "properties": {
            "name": {"type": "string", "description": "Who.  ", "maxLength": 5},
            "word": {"type": "string", "minLength": 1, "maxLength": 9},
            "code": {"type": ["string", "null"], "minLength": 2},
            "either": {
                "anyOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "integer"},
                    {"type": "null"},
                ]
            },
            "kind": {"type": ["string", "integer", "null"], "enum": ["a", 1, None]},
            "mailbox_id": {"type": ["string", "null"]},
            "nothing": {"type": "null"},
        },
    },
}


def test_strict_restates_length_limits_in_words_everywhere() -> None:
    tool = export_definition(DEFINITION, format="responses")
    assert tool["strict"] is True  # strict is the default
    properties = tool["parameters"]["properties"]
    assert properties["name"] == {"type": "string", "description": "Who. At most 5 characters."}
    assert properties["word"] == {
        "type": "string",
        "description": "At least 1 characters. At most 9 characters.",
    }
    assert properties["code"] == {
        "type": ["string", "null"],
        "description": "At least 2 characters.",
    }
    assert properties["either"]["anyOf"][0] == {
        "type": "string",
        "description": "At least 1 characters.",
    }


def test_relaxed_drops_null_from_unions_types_and_enums() -> None:
    tool = export_definition(DEFINITION, format="chat", strict=False)
    parameters = tool["function"]["parameters"]
    assert tool["function"]["strict"] is False
    assert parameters["required"] == ["name", "word"]
    properties = parameters["properties"]
    assert properties["code"] == {"type": "string", "minLength": 2}
    assert properties["either"] == {
        "anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]
    }
    assert properties["kind"] == {"type": ["string", "integer"], "enum": ["a", 1]}
    assert properties["nothing"] == {"type": "null"}


def test_hidden_properties_leave_properties_and_required() -> None:
    tool = export_definition(
        DEFINITION, format="assistants", hide=frozenset({"mailbox_id", "not_there"})
    )
    parameters = tool["function"]["parameters"]
    assert "mailbox_id" not in parameters["properties"]
    assert "mailbox_id" not in parameters["required"]
    assert "name" in parameters["properties"]


def test_exporting_never_changes_the_definition() -> None:
    before = copy.deepcopy(DEFINITION)
    for strict in (True, False):
        export_definition(DEFINITION, format="chat", strict=strict, hide=frozenset({"name"}))
    assert before == DEFINITION


def test_an_unknown_format_is_refused_listing_the_formats() -> None:
    with pytest.raises(ValueError) as refused:
        export_definition(DEFINITION, format="completions")  # type: ignore[arg-type]
    assert str(refused.value) == (
        "unknown format 'completions'; choose one of assistants, chat, responses"
    )
