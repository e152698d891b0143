"""Garbage in: parse_event raises only WebhookPayloadError, verify only
WebhookVerificationError (or WebhookPayloadError for a signed body that is not JSON)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mm_assistants.webhooks import (
    EVENT_TYPES,
    MessageEvent,
    OversightEvent,
    ReplayGuard,
    WebhookEvent,
    WebhookPayloadError,
    WebhookVerificationError,
    parse_event,
    verify_signature,
)

SECRET = "whsec_fuzz"
FIELDS = [
    "id", "event", "event_type", "type", "timestamp", "data", "email_id", "message_id",
    "mailbox", "mailbox_id", "thread_id", "from", "to", "subject", "spam_score", "status",
    "decided_by", "reason", "dkim", "authentication_results", "email", "created_at",
]  # fmt: skip
HEADERS = [
    "X-MultiMail-Signature", "x-multimail-timestamp", "X-MULTIMAIL-DELIVERY",
    "X-MultiMail-Event", "Content-Type",
]  # fmt: skip
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from([*EVENT_TYPES, "2026-03-01T12:00:00Z", "evt_1", "pending_send_approval"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)
payloads = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=8)


def _payload_only(body: Any) -> None:
    with contextlib.suppress(WebhookPayloadError):
        parse_event(body)


@FAST
@given(st.binary(max_size=200))
def test_parse_of_any_bytes_raises_only_a_payload_error(body: bytes) -> None:
    _payload_only(body)


@FAST
@given(st.text(max_size=200))
def test_parse_of_any_text_raises_only_a_payload_error(body: str) -> None:
    _payload_only(body)


@FAST
@given(payloads, st.booleans())
def test_parse_of_any_json_object_never_raises(payload: dict[str, Any], as_bytes: bool) -> None:
    body = json.dumps(payload).encode() if as_bytes else payload
    event = parse_event(body)
    assert isinstance(event, WebhookEvent)
    assert isinstance(event.type, str)
    assert event.type
    if isinstance(event, MessageEvent):
        assert all(isinstance(address, str) for address in event.to)
    if event.type.startswith("oversight.") and event.type in EVENT_TYPES:
        assert isinstance(event, OversightEvent)
    hash(event)


header_values = st.text(max_size=80) | st.binary(max_size=20) | st.integers() | st.none()
header_maps = st.dictionaries(st.sampled_from(HEADERS) | st.text(max_size=10), header_values)


@FAST
@given(st.binary(max_size=300), header_maps)
def test_verify_of_anything_raises_only_a_verification_error(body: bytes, headers: Any) -> None:
    refused: WebhookVerificationError | None = None
    try:
        verify_signature(body, headers, [SECRET, "whsec_other"], replay_guard=ReplayGuard())
    except WebhookVerificationError as error:
        refused = error
    except WebhookPayloadError:
        pass  # only after a signature matched: a forged body never gets this far
    assert refused is None or SECRET not in str(refused)


TIME_REASONS = (None, "malformed_timestamp", "missing_timestamp", "mismatched_timestamp")


@FAST
@given(
    st.binary(max_size=300) | payloads.map(lambda payload: json.dumps(payload).encode()),
    header_maps,
    st.floats(allow_nan=False, allow_infinity=False),
)
def test_a_signed_body_passes_or_fails_only_on_its_timestamp(
    body: bytes, extra: dict[Any, Any], now: float
) -> None:
    headers = {
        key: value
        for key, value in extra.items()
        if str(key).lower() not in ("x-multimail-signature",)
    }
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers["X-MultiMail-Signature"] = f"sha256={digest}"
    reason = None
    try:
        verify_signature(body, headers, SECRET, clock=lambda: now, replay_guard=ReplayGuard())
    except WebhookVerificationError as error:
        reason = error.reason
    except WebhookPayloadError:
        reason = "bad_payload"  # signed, but not a JSON object: it cannot carry a timestamp
    assert reason in (*TIME_REASONS, "stale_timestamp", "bad_payload")
