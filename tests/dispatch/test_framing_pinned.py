"""Framing pinned (issue 14): whether anything was framed (the flag that decides the
notice) at every level, the depth at which records stop being walked, a single record
walked like a list of them, and an empty attachment list naming nothing."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.dispatch.framing import frame


@pytest.mark.parametrize(
    ("record", "framed"),
    [
        pytest.param({"id": "em_1"}, False, id="nothing"),
        pytest.param({"subject": "hi"}, True, id="top-level"),
        pytest.param({"emails": [{"subject": "hi"}]}, True, id="inside-only"),
        pytest.param({"email": {"subject": "hi"}}, True, id="inside-one-record"),
        pytest.param({"emails": [{"subject": "hi"}, {"id": "2"}]}, True, id="first-item-only"),
        pytest.param({"emails": [{"id": "1"}, {"subject": "hi"}]}, True, id="last-item-only"),
        pytest.param(
            {"emails": [{"subject": "hi"}], "contacts": [{"id": "c"}]},
            True,
            id="an-earlier-field-only",
        ),
        pytest.param({"emails": [{"id": "1"}], "contacts": [{"id": "c"}]}, False, id="all-safe"),
    ],
)
def test_the_framed_flag_sees_every_level(record: dict[str, Any], framed: bool) -> None:
    assert frame(record)[1] is framed


def test_a_single_record_is_walked_like_a_list_item() -> None:
    assert frame({"email": {"id": "em_1", "subject": "s"}}) == (
        {"email": {"id": "em_1", "untrusted": {"subject": "s"}}},
        True,
    )


def test_an_empty_attachment_list_names_nothing() -> None:
    assert frame({"id": "em_1", "attachments": []}) == ({"id": "em_1", "attachments": []}, False)
    assert frame({"id": "em_1", "attachments": [{"filename": "a.pdf", "size": 3}]}) == (
        {
            "id": "em_1",
            "attachments": [{"size": 3}],
            "untrusted": {"attachment_names": ["a.pdf"]},
        },
        True,
    )


def chain(levels: int) -> dict[str, Any]:
    """``levels`` records nested under ``email``, the innermost with a subject."""
    inner: dict[str, Any] = {"id": "x", "subject": "s"}
    for _ in range(levels):
        inner = {"id": "x", "email": inner}
    return inner


def test_records_are_walked_eight_levels_deep_and_framed_whole_below() -> None:
    framed, _ = frame(chain(9))
    node = framed
    for _ in range(8):  # levels 0..7 walk into their record field
        assert set(node) == {"id", "email"}
        node = node["email"]
    # level 8 no longer walks: its record field is framed whole
    assert node == {"id": "x", "untrusted": {"email": {"id": "x", "subject": "s"}}}
