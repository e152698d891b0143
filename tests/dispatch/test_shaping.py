"""Output shaping: framing untrusted content, pending notes, bounds (see test_framing)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mm_assistants.dispatch.policy import dumps, parse_arguments
from mm_assistants.dispatch.shaping import bound_output, shape_output


def test_thread_messages_are_framed_one_by_one() -> None:
    shaped = shape_output(
        "get_thread",
        {
            "thread_id": "t",
            "participants": ["a@x"],
            "emails": [{"id": "1", "subject": "s", "from": "f"}, {"id": "2"}],
        },
    )
    assert shaped["untrusted"] == {"participants": ["a@x"]}
    assert shaped["emails"][0] == {"id": "1", "untrusted": {"subject": "s", "from": "f"}}
    assert shaped["emails"][1] == {"id": "2"}


def test_a_record_list_holding_non_records_is_framed_whole() -> None:
    shaped = shape_output("get_thread", {"thread_id": "t", "emails": [{"id": "1"}, "odd"]})
    assert shaped["untrusted"] == {"emails": [{"id": "1"}, "odd"]}
    assert shaped["thread_id"] == "t"


def test_non_object_answers_are_framed_too() -> None:
    shaped = shape_output("check_inbox", ["x"])
    assert shaped["untrusted"]["result"] == ["x"]
    assert "content_notice" in shaped
    assert shape_output("search_contacts", ["Ann"])["untrusted"] == {"result": ["Ann"]}


def test_a_held_schedule_gets_the_note() -> None:
    shaped = shape_output("schedule_email", {"id": "e", "status": "pending_send_approval"})
    assert "held for a human's approval" in shaped["note"]
    assert "note" not in shape_output("schedule_email", {"id": "e", "status": "scheduled"})


def test_long_texts_are_cut_from_the_tail() -> None:
    value: dict[str, Any] = {"id": "e", "untrusted": {"markdown": "word " * 5_000}}
    text, cut = bound_output(value, 3_000, "use read_email")
    assert cut
    assert len(text) <= 3_000
    parsed = json.loads(text)
    assert parsed["untrusted"]["markdown"].endswith("characters]")
    assert parsed["truncated"]["hint"] == "use read_email"


def test_unsplittable_values_fall_back_to_a_partial_json_string() -> None:
    value = {"numbers": list(range(5_000))}
    text, cut = bound_output(value, 2_000, "ask for less")
    assert cut
    assert len(text) <= 2_000
    assert json.loads(text)["truncated"] is True
    text, cut = bound_output([1] * 3_000, 2_000, "h")
    assert cut


def test_short_outputs_pass_untouched() -> None:
    assert bound_output({"a": 1}, 2_000, "h") == ('{"a":1}', False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), "null"),
        ({"k": float("inf")}, '{"k":null}'),
        ("\ud800", '"\\ud800"'),
        ((1, 2), "[1,2]"),
    ],
)
def test_dumps_never_fails(value: Any, expected: str) -> None:
    assert dumps(value) == expected


def test_parse_arguments_edge_cases() -> None:
    assert parse_arguments(None) == {}
    assert parse_arguments("  ") == {}
    refusal = parse_arguments(b"{}")  # type: ignore[arg-type]
    assert getattr(refusal, "type", None) == "invalid_arguments"
