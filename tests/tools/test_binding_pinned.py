"""Bindings a user would notice going wrong, pinned (issue 14): booleans in the query both
ways, wait_for_email's filter kept, a tag key encoded inside its own segment, and the
message a bad default mailbox raises."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.tools import load_registry
from mm_assistants.tools.binding import check_default_mailbox
from mm_assistants.tools.ids import is_plausible_id

MB = "/v1/mailboxes/mbx_1"


@pytest.mark.parametrize(("flag", "sent"), [(True, "true"), (False, "false")])
def test_check_inbox_sends_has_attachments_as_written(flag: bool, sent: str) -> None:
    spec = load_registry().bind("check_inbox", {"has_attachments": flag}, mailbox_id="mbx_1")
    assert dict(spec.params) == {"has_attachments": sent}


@pytest.mark.parametrize(
    ("criteria", "query"),
    [
        pytest.param(
            {"sender": "ana@example.com", "subject_contains": "invoice"},
            {"sender": "ana@example.com", "subject_contains": "invoice"},
            id="both",
        ),
        pytest.param(
            {"subject_contains": "invoice"}, {"subject_contains": "invoice"}, id="subject"
        ),
        pytest.param({"sender": None, "subject_contains": None}, {}, id="nulls-dropped"),
    ],
)
def test_wait_for_email_keeps_its_filter(criteria: dict[str, Any], query: dict[str, str]) -> None:
    spec = load_registry().bind("wait_for_email", {"filter": criteria}, mailbox_id="mbx_1")
    assert {k: v for k, v in spec.params.items() if k in ("sender", "subject_contains")} == query


@pytest.mark.parametrize(
    ("key", "segment"),
    [
        pytest.param("stage", "stage", id="plain"),
        pytest.param("deal stage", "deal%20stage", id="space"),
        # A "/" was encoded as %2F here until issue 17; it is now refused (test_path_params).
        pytest.param("a:b@c", "a%3Ab%40c", id="delimiters-stay-in-their-segment"),
        pytest.param("étape?#", "%C3%A9tape%3F%23", id="unicode-and-delimiters"),
    ],
)
def test_tag_email_delete_encodes_the_key_into_one_segment(key: str, segment: str) -> None:
    spec = load_registry().bind(
        "tag_email", {"email_id": "em_1", "action": "delete", "key": key}, mailbox_id="mbx_1"
    )
    assert (spec.method, spec.path) == ("DELETE", f"{MB}/emails/em_1/tags/{segment}")


@pytest.mark.parametrize(
    ("mailbox", "problem"),
    [
        pytest.param("mbx 1", "is not an id: ids have letters, digits", id="space"),
        pytest.param("é", "is not an id", id="not-ascii"),
        pytest.param("", "is empty", id="empty"),
        pytest.param(7, "must be a string, not int", id="number"),
    ],
)
def test_a_bad_default_mailbox_is_refused_as_an_id(mailbox: object, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_default_mailbox(mailbox)
    message = str(refused.value)
    assert message.startswith(f"the default mailbox_id {problem}")
    assert message.endswith("; pass the id of a MultiMail mailbox")


def test_a_good_default_mailbox_passes() -> None:
    check_default_mailbox("mbx_1")


@pytest.mark.parametrize("value", [7, None, b"mbx_1", ["mbx_1"]])
def test_only_a_string_can_be_a_plausible_id(value: object) -> None:
    assert is_plausible_id(value) is False


def test_a_plausible_id() -> None:
    assert is_plausible_id("mbx_1") is True
    assert is_plausible_id("mbx 1") is False
