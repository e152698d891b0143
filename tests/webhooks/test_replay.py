"""Replays of captured deliveries (issue 11, item 5): the signed body's timestamp governs,
and the replay memory outlives its window and the process."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.webhooks import (
    DuplicateDelivery,
    MemorySeenStore,
    WebhookReceiver,
    WebhookVerificationError,
    verify_signature,
)

SECRET = "whsec_replay_0123456789"
NOW = 1_772_366_400.0  # 2026-03-01T12:00:00Z


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def approval(timestamp: Any = NOW, event_id: str = "evt_approved_1") -> bytes:
    """A captured ``oversight.approved`` delivery, signed as MultiMail signs it."""
    document: dict[str, Any] = {
        "id": event_id,
        "event": "oversight.approved",
        "data": {"email_id": "em_1", "status": "approved"},
    }
    if timestamp is not None:
        document["timestamp"] = timestamp
    return json.dumps(document).encode()


def signed(body: bytes, **extra: str) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-MultiMail-Signature": "sha256=" + digest, **extra}


def refused(reason: str, body: bytes, headers: dict[str, str], **kwargs: Any) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_signature(body, headers, SECRET, **kwargs)
    assert caught.value.reason == reason


def test_a_replay_after_the_old_ttl_with_a_forged_fresh_header_is_refused() -> None:
    clock = Clock(NOW)
    guard = MemorySeenStore()
    body = approval(NOW)
    original = signed(
        body, **{"X-MultiMail-Timestamp": str(int(NOW)), "X-MultiMail-Delivery": "d1"}
    )
    verify_signature(body, original, SECRET, replay_guard=guard, clock=clock)
    clock.now = NOW + 601  # the in-process memory used to forget after 600 s
    forged = signed(
        body, **{"X-MultiMail-Timestamp": str(int(clock.now)), "X-MultiMail-Delivery": "d9"}
    )
    refused("replayed", body, forged, replay_guard=guard, clock=clock)


def test_a_replay_after_a_restart_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "seen.sqlite3"
    body = approval(NOW)
    first = WebhookReceiver(SECRET, replay_guard=store, clock=Clock(NOW))
    first.accept(body, signed(body))
    restarted = WebhookReceiver(SECRET, replay_guard=store, clock=Clock(NOW + 5))
    with pytest.raises(DuplicateDelivery):
        restarted.accept(body, signed(body))


def test_the_default_memory_survives_a_restart() -> None:
    # by default the receiver keeps its memory in a file (MM_ASSISTANTS_STATE_DIR in tests)
    body = approval(NOW)
    WebhookReceiver(SECRET, clock=Clock(NOW)).accept(body, signed(body))
    with pytest.raises(DuplicateDelivery):
        WebhookReceiver(SECRET, clock=Clock(NOW + 5)).accept(body, signed(body))


def test_a_stale_signed_timestamp_is_refused_even_with_a_fresh_header() -> None:
    body = approval(NOW - 2 * 3600)
    fresh = signed(body, **{"X-MultiMail-Timestamp": str(int(NOW))})
    refused("stale_timestamp", body, fresh, clock=Clock(NOW))
    refused("stale_timestamp", body, signed(body), clock=Clock(NOW))


def test_no_timestamp_at_all_is_refused_by_default() -> None:
    body = approval(None)
    refused("missing_timestamp", body, signed(body), clock=Clock(NOW))
    receiver = WebhookReceiver(SECRET, clock=Clock(NOW))
    with pytest.raises(WebhookVerificationError) as caught:
        receiver.accept(body, signed(body))
    assert caught.value.reason == "missing_timestamp"


def test_an_unsigned_header_alone_does_not_prove_freshness() -> None:
    body = approval(None)
    refused(
        "missing_timestamp",
        body,
        signed(body, **{"X-MultiMail-Timestamp": str(int(NOW))}),
        clock=Clock(NOW),
    )


def test_the_caller_may_opt_out_of_requiring_a_timestamp() -> None:
    body = approval(None)
    delivery = verify_signature(body, signed(body), SECRET, require_timestamp=False)
    assert delivery.timestamp is None
    # the header, when there is one, is still checked as a best effort
    old = signed(body, **{"X-MultiMail-Timestamp": str(int(NOW - 7200))})
    refused("stale_timestamp", body, old, require_timestamp=False, clock=Clock(NOW))
    receiver = WebhookReceiver(SECRET, require_timestamp=False, clock=Clock(NOW))
    assert receiver.accept(body, signed(body)).type == "oversight.approved"


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param("2026-03-01T11:30:00Z", id="iso-z"),
        pytest.param("2026-03-01T12:30:00.123+01:00", id="iso-offset"),
        pytest.param(NOW - 1800, id="epoch-seconds"),
        pytest.param(int((NOW - 1800) * 1000), id="epoch-ms"),
        pytest.param(str(int(NOW - 1800)), id="epoch-text"),
    ],
)
def test_every_payload_time_shape_is_read(timestamp: Any) -> None:
    body = approval(timestamp)
    delivery = verify_signature(body, signed(body), SECRET, clock=Clock(NOW))
    assert delivery.timestamp == pytest.approx(NOW - 1800, abs=1)


def test_the_flat_shape_and_an_event_time_inside_data_are_read() -> None:
    flat = json.dumps({"event_type": "message.received", "timestamp": NOW}).encode()
    assert verify_signature(flat, signed(flat), SECRET, clock=Clock(NOW)).timestamp == NOW
    inner = json.dumps({"event": "message.sent", "data": {"timestamp": NOW}}).encode()
    assert verify_signature(inner, signed(inner), SECRET, clock=Clock(NOW)).timestamp == NOW


def test_the_emails_own_created_at_is_not_the_events_time() -> None:
    body = json.dumps({"event": "oversight.approved", "data": {"created_at": NOW}}).encode()
    refused("missing_timestamp", body, signed(body), clock=Clock(NOW))


@pytest.mark.parametrize("value", ["yesterday", "", "2026-13-45T00:00:00Z", True])
def test_an_unreadable_signed_timestamp_is_malformed(value: Any) -> None:
    body = approval(value)
    refused("malformed_timestamp", body, signed(body), clock=Clock(NOW))


def test_a_header_contradicting_the_signed_body_is_refused() -> None:
    body = approval(NOW)
    late = signed(body, **{"X-MultiMail-Timestamp": str(int(NOW + 3601))})
    refused("mismatched_timestamp", body, late, clock=Clock(NOW + 60))
    # a retry's header is later than the event's time: that is normal
    retry = signed(body, **{"X-MultiMail-Timestamp": str(int(NOW + 600))})
    assert verify_signature(body, retry, SECRET, clock=Clock(NOW + 600)).timestamp == NOW


@pytest.mark.parametrize(
    ("age", "ok"),
    [
        pytest.param(0, True, id="now"),
        pytest.param(3600, True, id="an-hour-old"),
        pytest.param(3601, False, id="too-old"),
        pytest.param(-3600, True, id="an-hour-ahead"),
        pytest.param(-3601, False, id="too-far-ahead"),
    ],
)
def test_the_default_window_covers_multimails_retries(age: int, ok: bool) -> None:
    body = approval(NOW - age)
    if ok:
        assert verify_signature(body, signed(body), SECRET, clock=Clock(NOW))
    else:
        refused("stale_timestamp", body, signed(body), clock=Clock(NOW))


def test_the_window_is_configurable() -> None:
    body = approval(NOW - 120)
    refused("stale_timestamp", body, signed(body), clock=Clock(NOW), tolerance=60)
    assert verify_signature(body, signed(body), SECRET, clock=Clock(NOW), tolerance=300)
    receiver = WebhookReceiver(SECRET, tolerance=60, clock=Clock(NOW))
    with pytest.raises(WebhookVerificationError, match="stale_timestamp"):
        receiver.accept(body, signed(body))


def test_the_memory_lasts_as_long_as_the_window() -> None:
    clock = Clock(NOW)
    guard = MemorySeenStore()
    body = approval(NOW + 600)  # dated ahead: it stays acceptable until NOW + 600 + 3600
    verify_signature(body, signed(body), SECRET, replay_guard=guard, clock=clock)
    clock.now = NOW + 600 + 3600
    refused("replayed", body, signed(body), replay_guard=guard, clock=clock)
    clock.now += 0.5
    refused("stale_timestamp", body, signed(body), replay_guard=guard, clock=clock)


def test_the_same_event_under_another_body_is_refused() -> None:
    # a re-encoded copy of a signed event (other key order) has the same event id
    guard = MemorySeenStore()
    now = Clock(NOW)
    first = approval(NOW, event_id="evt_7")
    verify_signature(first, signed(first), SECRET, replay_guard=guard, clock=now)
    again = json.dumps(json.loads(first), sort_keys=True, indent=1).encode()
    assert again != first
    refused("replayed", again, signed(again), replay_guard=guard, clock=now)


def test_a_body_that_is_not_json_is_a_payload_error() -> None:
    receiver = WebhookReceiver(SECRET, clock=Clock(NOW))
    with pytest.raises(ValueError, match="not a JSON object"):
        receiver.accept(b"[1, 2]", signed(b"[1, 2]"))


def test_the_sandboxs_deliveries_carry_a_signed_timestamp_the_receiver_accepts() -> None:
    from mm_assistants.sandbox.multimail_api.signing import delivery_headers, encode_body, sign

    body = encode_body("evt_sb_1", "oversight.approved", NOW, {"email_id": "em_1"})
    retry = delivery_headers("evt_sb_1", "oversight.approved", sign(body, SECRET), NOW + 7)
    receiver = WebhookReceiver(SECRET, replay_guard=MemorySeenStore(), clock=Clock(NOW + 7))
    assert receiver.accept(body, retry).type == "oversight.approved"
    with pytest.raises(DuplicateDelivery):  # its next retry, under the same event id
        receiver.accept(body, {**retry, "X-MultiMail-Delivery": "evt_other"})
