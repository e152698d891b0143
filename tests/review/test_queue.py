"""The review queue's pure decisions: a held email as a row, ages, decision checks."""

from __future__ import annotations

from typing import Any

import pytest

from mm_assistants.review.queue import (
    check_decision,
    clean,
    emails_of,
    find_pending,
    first_lines,
    format_age,
    parse_time,
    pending_row,
    pending_rows,
)

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
HELD: dict[str, Any] = {
    "id": "em_1",
    "mailbox_id": "mbx_1",
    "direction": "outbound",
    "from": "agent@example.com",
    "to": ["bob@example.com", "carol@example.com"],
    "cc": ["dan@example.com"],
    "subject": "Quarterly   numbers",
    "body_markdown": "Hi Bob,\n\n  the numbers\tare in.\nMore tomorrow.\n",
    "status": "pending_send_approval",
    "created_at": "2027-01-15T07:57:00.000Z",
}


def test_a_held_email_becomes_a_row_a_person_reads() -> None:
    row = pending_row(HELD, NOW)
    assert row.id == "em_1"
    assert row.mailbox_id == "mbx_1"
    assert row.sender == "agent@example.com"
    assert row.recipients == ("bob@example.com", "carol@example.com")
    assert row.cc == ("dan@example.com",)
    assert row.subject == "Quarterly numbers"
    assert row.preview == ("Hi Bob,", "the numbers are in.")
    assert row.body == HELD["body_markdown"].replace("\t", "    ")  # a tab shows as spaces
    assert row.age == "3m"
    assert row.age_seconds == 180.0


def test_the_row_as_json_keeps_the_api_names() -> None:
    shown = pending_row(HELD, NOW).as_dict()
    assert shown["from"] == "agent@example.com"
    assert shown["to"] == ["bob@example.com", "carol@example.com"]
    assert shown["preview"] == ["Hi Bob,", "the numbers are in."]
    assert shown["age"] == "3m"
    assert shown["created_at"] == HELD["created_at"]


def test_the_repr_leaves_the_email_text_out() -> None:
    shown = repr(pending_row(HELD, NOW))
    assert "em_1" in shown
    assert "numbers are in" not in shown


def test_the_sandbox_and_openapi_time_field_is_read_too() -> None:
    email = {**HELD, "received_at": HELD["created_at"]}
    del email["created_at"]
    assert pending_row(email, NOW).age == "3m"


def test_a_malformed_record_is_shown_rather_than_raised() -> None:
    row = pending_row({"id": 7, "to": "solo@example.com", "subject": None}, NOW)
    assert row.id == "7"
    assert row.recipients == ("solo@example.com",)
    assert row.subject == ""
    assert row.preview == ()
    assert row.age == "?"
    assert row.age_seconds is None


def test_control_characters_of_untrusted_text_are_shown_as_escapes() -> None:
    hostile = {**HELD, "subject": "Hi\x1b[2J\x1b]0;owned\x07 there", "body_markdown": "a\x00b\nc"}
    row = pending_row(hostile, NOW)
    assert row.subject == "Hi\\x1b[2J\\x1b]0;owned\\x07 there"
    assert row.body == "a\\x00b\nc"
    assert clean("tab\tand\nnewline stay\x9b") == "tab    and\nnewline stay\\x9b"


def test_rows_come_oldest_first() -> None:
    newer = {**HELD, "id": "em_new", "created_at": "2027-01-15T07:59:30Z"}
    unknown = {**HELD, "id": "em_unknown", "created_at": None}
    rows = pending_rows([newer, unknown, HELD, "not a record"], NOW)  # type: ignore[list-item]
    assert [row.id for row in rows] == ["em_1", "em_new", "em_unknown"]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        pytest.param(0, "0s", id="now"),
        pytest.param(59.9, "59s", id="seconds"),
        pytest.param(60, "1m", id="a-minute"),
        pytest.param(3599, "59m", id="minutes"),
        pytest.param(7200, "2h", id="hours"),
        pytest.param(86400 * 3 + 5, "3d", id="days"),
        pytest.param(-1, "?", id="negative"),
        pytest.param(float("nan"), "?", id="nan"),
    ],
)
def test_format_age(seconds: float, shown: str) -> None:
    assert format_age(seconds) == shown


def test_a_clock_behind_the_server_shows_no_negative_age() -> None:
    ahead = {**HELD, "created_at": "2027-01-15T08:00:05Z"}
    assert pending_row(ahead, NOW).age == "0s"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("2027-01-15T08:00:00.000Z", NOW, id="iso-z"),
        pytest.param("2027-01-15T09:00:00+01:00", NOW, id="iso-offset"),
        pytest.param("2027-01-15T08:00:00", NOW, id="naive-is-utc"),
        pytest.param(NOW, NOW, id="seconds"),
        pytest.param(int(NOW * 1000), NOW, id="milliseconds"),
        pytest.param("yesterday", None, id="words"),
        pytest.param("", None, id="empty"),
        pytest.param(True, None, id="bool"),
        pytest.param(None, None, id="none"),
    ],
)
def test_parse_time(value: Any, seconds: float | None) -> None:
    assert parse_time(value) == seconds


def test_first_lines_skip_blank_lines_and_shorten_long_ones() -> None:
    assert first_lines("\n\nOne\n\n" + "x" * 200 + "\nThree", width=10) == ("One", "xxxxxxxxx…")
    assert first_lines("") == ()


@pytest.mark.parametrize(
    ("action", "reason", "checked"),
    [
        pytest.param("approve", None, ("approve", None), id="approve"),
        pytest.param("approve", "  fine  ", ("approve", "fine"), id="approve-with-note"),
        pytest.param("reject", " too early ", ("reject", "too early"), id="reject"),
    ],
)
def test_check_decision_accepts(action: str, reason: str | None, checked: tuple[str, Any]) -> None:
    assert check_decision(action, reason) == checked


@pytest.mark.parametrize(
    ("action", "reason", "message"),
    [
        pytest.param("reject", None, "needs a reason", id="reject-without-reason"),
        pytest.param("reject", " \t", "needs a reason", id="reject-blank-reason"),
        pytest.param("delete", None, "'approve' or 'reject'", id="unknown-action"),
        pytest.param("approve", "x" * 1001, "longer than 1000", id="long-reason"),
    ],
)
def test_check_decision_refuses(action: str, reason: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_decision(action, reason)


def test_the_pending_answer_and_one_record_of_it() -> None:
    assert emails_of({"emails": [HELD, "junk"]}) == [HELD]
    assert emails_of({"emails": None}) == []
    assert emails_of(["not", "an", "answer"]) == []
    assert find_pending([HELD], "em_1") is HELD
    assert find_pending([HELD], "em_2") is None


@pytest.mark.parametrize(
    ("field", "hostile"),
    [
        pytest.param("created_at", "2026-01-01\x1b[1A\x1b[2K\rto: boss@corp.example", id="stamp"),
        pytest.param("status", "pending_send_approval\nto:        boss@corp.example", id="status"),
        pytest.param("id", "em_1\nto: boss@corp.example", id="id"),
        pytest.param("mailbox_id", "mbx_1\r\nto: boss@corp.example", id="mailbox"),
    ],
)
def test_no_header_field_can_forge_another_line(field: str, hostile: str) -> None:
    from mm_assistants.review.text import render_message

    email = {"id": "em_1", "mailbox_id": "mbx_1", "status": "pending_send_approval",
             "to": ["eve@evil.example"], "subject": "Hello", field: hostile}  # fmt: skip
    shown = render_message(pending_row(email, NOW))
    assert "\x1b" not in shown
    assert not any(
        line.lstrip().startswith("to:") and "boss" in line for line in shown.splitlines()
    )


ORIGINAL: dict[str, Any] = {
    "id": "em_0",
    "from": "ana@customer.example",
    "subject": "Can we   move the call?",
    "markdown": "Hi,\n\nline two\nline three\nline four\nline five\n",
    "received_at": "2027-01-15T07:00:00.000Z",
}


def test_a_reply_row_carries_the_email_it_answers() -> None:
    row = pending_row(HELD, NOW, ORIGINAL)
    assert row.original is not None
    assert row.as_dict()["original"] == {
        "id": "em_0",
        "from": "ana@customer.example",
        "subject": "Can we move the call?",
        "preview": ["Hi,", "line two", "line three", "line four"],
        "received_at": "2027-01-15T07:00:00.000Z",
    }
    assert pending_row(HELD, NOW).as_dict()["original"] is None


def test_the_original_is_untrusted_text_on_one_line_per_field() -> None:
    hostile = "x\x1b[2K\u202eevil\nto: boss@corp.example"
    row = pending_row(HELD, NOW, {**ORIGINAL, "from": hostile, "subject": hostile})
    assert row.original is not None
    for text in (row.original.sender, row.original.subject):
        assert "\n" not in text
        assert "\x1b" not in text
        assert "\u202e" not in text


def test_rows_find_their_originals_by_held_id() -> None:
    other = {**HELD, "id": "em_2"}
    rows = pending_rows([HELD, other], NOW, {"em_1": ORIGINAL, "em_2": None})
    assert {row.id: row.original is not None for row in rows} == {"em_1": True, "em_2": False}
