"""`decision_of`: the review page's decision body, read by one pure function (split out of
`create_review_app` to keep it under ruff's complexity limit, issue 13 item 8)."""

from __future__ import annotations

import json

import pytest

from mm_assistants.review.app import decision_of


def test_a_good_body_gives_the_stripped_id_the_action_and_the_reason() -> None:
    body = json.dumps({"email_id": "  em_1 ", "action": "reject", "reason": "wrong person"})
    assert decision_of(body.encode()) == ("em_1", "reject", "wrong person")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"{not json", "the body must be JSON", id="not-json"),
        pytest.param(b"[1]", "email_id must be a non-empty string", id="not-an-object"),
        pytest.param(b'{"email_id": "  "}', "email_id must be a non-empty string", id="blank-id"),
        pytest.param(
            b'{"email_id": "em_1", "action": "approve", "reason": 3}',
            "reason must be a string",
            id="reason-not-text",
        ),
    ],
)
def test_a_bad_body_is_a_value_error_saying_what_is_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decision_of(raw)
