"""Parsing both documented payload shapes into typed events, and unknown types kept."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from mm_assistants.webhooks import (
    EVENT_TYPES,
    MessageEvent,
    OversightEvent,
    WebhookEvent,
    WebhookPayloadError,
    parse_event,
)

MESSAGE_TYPES = [name for name in EVENT_TYPES if name.startswith("message.")]
OVERSIGHT_TYPES = [name for name in EVENT_TYPES if name.startswith("oversight.")]
WHEN = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def envelope(event: str, **data: Any) -> bytes:
    """The shape the sandbox sends (and one MultiMail page documents)."""
    base = {"email_id": "em_1", "message_id": "em_1", "mailbox_id": "mbx_1", "thread_id": "th_1"}
    document = {"id": "evt_1", "event": event, "timestamp": "2026-03-01T12:00:00Z"}
    return json.dumps({**document, "data": {**base, **data}}).encode()


def flat(event: str, **fields: Any) -> bytes:
    """The other documented shape: everything at the top, the type as ``event_type``."""
    base = {"mailbox": "mbx_1", "message_id": "em_1", "thread_id": "th_1"}
    document = {"event_type": event, "timestamp": "2026-03-01T12:00:00Z", **base, **fields}
    return json.dumps(document).encode()


SHAPES = [pytest.param(envelope, id="envelope"), pytest.param(flat, id="flat")]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("event_type", MESSAGE_TYPES)
def test_message_events_in_both_shapes(shape: Any, event_type: str) -> None:
    event = parse_event(
        shape(
            event_type,
            status="unread",
            direction="inbound",
            to=["a@example.com", {"email": "b@example.com", "name": "B"}],
            subject="Hello",
            spam_verdict="clean",
            spam_score=0.5,
            **{"from": {"name": "Ann", "address": "ann@example.com"}},
        )
    )
    assert isinstance(event, MessageEvent)
    assert (event.type, event.timestamp, event.mailbox_id) == (event_type, WHEN, "mbx_1")
    assert (event.email_id, event.message_id, event.thread_id) == ("em_1", "em_1", "th_1")
    assert event.from_ == "ann@example.com"
    assert event.to == ("a@example.com", "b@example.com")
    assert (event.subject, event.status, event.direction) == ("Hello", "unread", "inbound")
    assert (event.spam_verdict, event.spam_score) == ("clean", 0.5)
    assert (event.dkim, event.spf, event.dmarc) == (None, None, None)
    assert event.raw["timestamp"] == "2026-03-01T12:00:00Z"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("event_type", "decision"),
    [
        pytest.param("oversight.pending", "pending", id="pending"),
        pytest.param("oversight.approved", "approved", id="approved"),
        pytest.param("oversight.rejected", "rejected", id="rejected"),
    ],
)
def test_oversight_events_in_both_shapes(shape: Any, event_type: str, decision: str) -> None:
    event = parse_event(shape(event_type, status="rejected", decided_by="op@x.com", reason="tone"))
    assert isinstance(event, OversightEvent)
    assert (event.type, event.decision, event.email_id) == (event_type, decision, "em_1")
    assert (event.decided_by, event.reason, event.status) == ("op@x.com", "tone", "rejected")
    assert (event.mailbox_id, event.thread_id, event.timestamp) == ("mbx_1", "th_1", WHEN)


def test_every_known_type_is_covered_above() -> None:
    assert sorted(MESSAGE_TYPES + OVERSIGHT_TYPES) == sorted(EVENT_TYPES)
    assert len(EVENT_TYPES) == 8


def test_the_envelope_id_is_the_events_and_the_datas_id_the_emails() -> None:
    body = {"id": "evt_9", "event": "oversight.approved", "data": {"id": "em_7"}}
    event = parse_event(body)
    assert isinstance(event, OversightEvent)
    assert (event.id, event.email_id) == ("evt_9", "em_7")


def test_a_flat_id_is_taken_only_when_it_names_an_event() -> None:
    assert parse_event({"event_type": "message.sent", "id": "evt_1"}).id == "evt_1"
    assert parse_event({"event_type": "message.sent", "id": "em_1"}).id is None
    assert parse_event({"event_type": "message.sent", "event_id": "e_5"}).id == "e_5"


def test_a_nested_email_object_is_read() -> None:
    body = {"event": "message.received", "data": {"email": {"id": "em_3", "subject": "S"}}}
    event = parse_event(body)
    assert isinstance(event, MessageEvent)
    assert (event.email_id, event.subject) == ("em_3", "S")


def test_authentication_verdicts_when_present() -> None:
    direct = parse_event(envelope("message.received", dkim="pass", spf={"result": "fail"}))
    nested = parse_event(
        flat("message.received", authentication_results={"dmarc": "pass", "spf": "softfail"})
    )
    assert isinstance(direct, MessageEvent)
    assert isinstance(nested, MessageEvent)
    assert (direct.dkim, direct.spf, direct.dmarc) == ("pass", "fail", None)
    assert (nested.dkim, nested.spf, nested.dmarc) == (None, "softfail", "pass")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2026-03-01T12:00:00Z", WHEN, id="iso-z"),
        pytest.param("2026-03-01T13:00:00+01:00", WHEN, id="iso-offset"),
        pytest.param("2026-03-01T12:00:00", WHEN, id="iso-naive-is-utc"),
        pytest.param("2026-03-01T12:00:00.0000000Z", WHEN, id="seven-fraction-digits"),
        pytest.param(WHEN.timestamp(), WHEN, id="epoch-seconds"),
        pytest.param(int(WHEN.timestamp() * 1000), WHEN, id="epoch-ms"),
        pytest.param(str(int(WHEN.timestamp())), WHEN, id="epoch-text"),
        pytest.param("yesterday", None, id="words"),
        pytest.param(1e300, None, id="out-of-range"),
        pytest.param("0001-01-01T00:00:00+01:00", None, id="before-year-1-in-utc"),
        pytest.param(True, None, id="bool"),
        pytest.param(["x"], None, id="list"),
    ],
)
def test_timestamps_are_read_tolerantly(value: Any, expected: datetime | None) -> None:
    assert parse_event({"event": "message.sent", "timestamp": value}).timestamp == expected


def test_wrongly_typed_fields_read_as_absent() -> None:
    event = parse_event(
        envelope(
            "message.sent",
            email_id=["em_1"],
            message_id=None,
            subject={"x": 1},
            to="solo@example.com",
            spam_score="high",
            thread_id=42,
            **{"from": True},
        )
    )
    assert isinstance(event, MessageEvent)
    assert (event.email_id, event.subject, event.from_, event.spam_score) == (
        None,
        None,
        None,
        None,
    )
    assert (event.to, event.thread_id) == (("solo@example.com",), "42")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"event": "message.archived", "data": {"email_id": "em_1"}}, id="envelope"),
        pytest.param({"event_type": "webhook.test", "mailbox_id": "mbx_1"}, id="flat"),
        pytest.param({"type": "mailbox.created", "data": "not an object"}, id="type-key"),
    ],
)
def test_unknown_types_are_kept_as_generic_events(body: dict[str, Any]) -> None:
    event = parse_event(json.dumps(body))
    assert type(event) is WebhookEvent
    assert event.type == body.get("event") or body.get("event_type") or body.get("type")
    assert dict(event.raw) == body


def test_a_payload_without_a_type_uses_the_header_or_is_unknown() -> None:
    assert parse_event(b"{}").type == "unknown"
    assert parse_event(b'{"event": 5}', event_type="message.sent").type == "5"
    event = parse_event(b'{"data": {"email_id": "em_1"}}', event_type="oversight.approved")
    assert isinstance(event, OversightEvent)
    assert event.email_id == "em_1"
    assert parse_event(b'{"event": "message.sent"}', event_type="x").type == "message.sent"


def test_accepts_text_bytes_with_a_bom_and_mappings() -> None:
    body = envelope("message.sent")
    events = [parse_event(body), parse_event(body.decode()), parse_event(b"\xef\xbb\xbf" + body)]
    events.append(parse_event(json.loads(body)))
    assert all(event == events[0] for event in events)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"{", id="truncated"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"event"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b"[" * 100_000, id="deep"),
        pytest.param(b"1" * 5000, id="huge-int"),
    ],
)
def test_only_a_non_object_raises(body: bytes) -> None:
    with pytest.raises(WebhookPayloadError):
        parse_event(body)


def test_a_payload_error_is_a_value_error_and_other_types_are_misuse() -> None:
    assert issubclass(WebhookPayloadError, ValueError)
    with pytest.raises(TypeError):
        parse_event(42)  # type: ignore[arg-type]


def test_events_are_frozen_hashable_and_their_repr_leaves_the_payload_out() -> None:
    event = parse_event(envelope("message.received", text="private words"))
    assert hash(event) == hash(parse_event(envelope("message.received", text="other words")))
    assert "private words" not in repr(event)
    with pytest.raises(AttributeError):
        event.type = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.raw["event"] = "x"  # type: ignore[index]
