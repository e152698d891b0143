"""Signature checks, rotation, size cap, replay window and seen-id cache (fake clocks; the
replays of item 5 of issue 11 are in test_replay.py, the stores in test_seen.py)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from mm_assistants.webhooks import (
    ReplayGuard,
    VerifiedDelivery,
    WebhookVerificationError,
)
from mm_assistants.webhooks import verify_signature as _verify

SECRET = "whsec_current_0123456789"
OLD_SECRET = "whsec_previous_9876543210"
BODY = b'{"id":"evt_1","event":"message.sent","timestamp":"2026-03-01T12:00:00Z","data":{}}'
NOW = 1_772_366_400.0


def signature(body: bytes, secret: str) -> str:
    """Made independently of the library, as MultiMail describes it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(body: bytes = BODY, secret: str = SECRET, /, **extra: str) -> dict[str, str]:
    return {"X-MultiMail-Signature": signature(body, secret), **extra}


def refusal(reason: str, *args: Any, **kwargs: Any) -> WebhookVerificationError:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_signature(*args, **kwargs)
    assert caught.value.reason == reason
    assert str(caught.value).startswith(reason + ": ")
    return caught.value


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def verify_signature(*args: Any, **kwargs: Any) -> VerifiedDelivery:
    """`verify_signature` at the time ``BODY`` was signed, unless a test says otherwise."""
    kwargs.setdefault("clock", Clock(NOW))
    return _verify(*args, **kwargs)


def test_accepts_a_body_signed_with_the_secret() -> None:
    delivery = verify_signature(BODY, headers(), SECRET)
    assert delivery == VerifiedDelivery(secret_index=0, timestamp=NOW)


@pytest.mark.parametrize("secret", [SECRET, OLD_SECRET], ids=["new", "old"])
def test_rotation_accepts_either_secret_and_says_which(secret: str) -> None:
    delivery = verify_signature(BODY, headers(BODY, secret), [SECRET, OLD_SECRET])
    assert delivery.secret_index == [SECRET, OLD_SECRET].index(secret)
    assert verify_signature(bytearray(BODY), headers(BODY, secret), (SECRET.encode(), OLD_SECRET))


def test_rotation_still_refuses_a_third_secret() -> None:
    refusal("bad_signature", BODY, headers(BODY, "whsec_other"), [SECRET, OLD_SECRET])


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        pytest.param({}, "missing_signature", id="absent"),
        pytest.param({"X-MultiMail-Signature": "  "}, "missing_signature", id="blank"),
        pytest.param({"X-MultiMail-Signature": "abc"}, "malformed_signature", id="no-scheme"),
        pytest.param(
            {"X-MultiMail-Signature": "sha1=" + "a" * 64}, "malformed_signature", id="sha1"
        ),
        pytest.param(
            {"X-MultiMail-Signature": "sha256=" + "a" * 63}, "malformed_signature", id="short"
        ),
        pytest.param(
            {"X-MultiMail-Signature": "sha256=" + "g" * 64}, "malformed_signature", id="not-hex"
        ),
        pytest.param({"X-MultiMail-Signature": "sha256=" + "a" * 64}, "bad_signature", id="wrong"),
    ],
)
def test_refuses_missing_malformed_and_wrong_signatures(
    header: dict[str, str], reason: str
) -> None:
    refusal(reason, BODY, header, SECRET)


def test_refuses_a_signature_of_another_body() -> None:
    refusal("bad_signature", BODY + b" ", headers(), SECRET)


def test_header_names_are_case_insensitive_and_values_may_be_bytes() -> None:
    sig = signature(BODY, SECRET)
    assert verify_signature(BODY, {"x-multimail-signature": sig}, SECRET)
    assert verify_signature(
        BODY, {"X-MULTIMAIL-SIGNATURE": sig.upper().replace("SHA", "sha")}, SECRET
    )
    assert verify_signature(BODY, {b"x-multimail-signature": sig.encode()}, SECRET)  # type: ignore[dict-item]
    delivery = verify_signature(
        BODY,
        {"x-MultiMail-signature": sig, "x-multimail-delivery": "evt_1", "X-MULTIMAIL-EVENT": "e"},
        SECRET,
    )
    assert (delivery.delivery_id, delivery.event) == ("evt_1", "e")


def test_one_matching_value_among_several_is_enough() -> None:
    several = f"sha256={'0' * 64}, {signature(BODY, SECRET)}, v1=whatever"
    assert verify_signature(BODY, {"X-MultiMail-Signature": several}, SECRET)


def test_refuses_a_body_over_the_cap_before_looking_at_the_signature() -> None:
    big = b"x" * 101
    refusal("too_large", big, {}, SECRET, max_body=100)
    assert verify_signature(big[:100], headers(big[:100]), SECRET, max_body=100, tolerance=None)
    refusal("too_large", b"x" * (2**20 + 1), {}, SECRET)


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        pytest.param(0, None, id="now"),
        pytest.param(600, None, id="a-retry"),
        pytest.param(3600, None, id="an-hour-later"),
        pytest.param(3601, "mismatched_timestamp", id="too-late"),
        pytest.param(-3601, "mismatched_timestamp", id="too-early"),
    ],
)
def test_the_timestamp_header_may_not_contradict_the_signed_body(
    offset: int, reason: str | None
) -> None:
    given = headers(**{"X-MultiMail-Timestamp": str(int(NOW) + offset)})
    if reason is None:
        delivery = verify_signature(BODY, given, SECRET, clock=Clock(NOW + offset))
        assert delivery.timestamp == NOW  # the body's time governs
    else:
        refusal(reason, BODY, given, SECRET, clock=Clock(NOW))


def test_the_window_is_configurable_and_can_be_turned_off() -> None:
    refusal("stale_timestamp", BODY, headers(), SECRET, clock=Clock(NOW + 61), tolerance=60)
    assert verify_signature(BODY, headers(), SECRET, clock=Clock(NOW + 86400), tolerance=None)


@pytest.mark.parametrize("value", ["soon", "nan", "inf", "12:00"])
def test_refuses_a_malformed_timestamp(value: str) -> None:
    given = headers(**{"X-MultiMail-Timestamp": value})
    refusal("malformed_timestamp", BODY, given, SECRET, clock=Clock(NOW))


def test_the_signature_is_checked_before_the_timestamp() -> None:
    given = {"X-MultiMail-Signature": "sha256=" + "a" * 64, "X-MultiMail-Timestamp": "1"}
    refusal("bad_signature", BODY, given, SECRET, clock=Clock(NOW + 86400))


def test_the_guard_refuses_a_delivery_id_seen_before() -> None:
    guard = ReplayGuard()
    first = verify_signature(
        BODY, headers(**{"X-MultiMail-Delivery": "evt_1"}), SECRET, replay_guard=guard
    )
    assert first.replay_keys == (
        "delivery:evt_1",
        "event:evt_1",
        "body:" + hashlib.sha256(BODY).hexdigest(),
    )
    other = b'{"event":"message.sent","id":"evt_2","timestamp":"2026-03-01T12:00:00Z"}'
    refusal(
        "replayed",
        other,
        headers(other, **{"X-MultiMail-Delivery": "evt_1"}),
        SECRET,
        replay_guard=guard,
    )


def test_the_guard_refuses_the_same_body_under_a_new_delivery_id() -> None:
    # the delivery header is not signed: a replay could change it, the body it cannot
    guard = ReplayGuard()
    verify_signature(BODY, headers(**{"X-MultiMail-Delivery": "evt_1"}), SECRET, replay_guard=guard)
    refusal(
        "replayed", BODY, headers(**{"X-MultiMail-Delivery": "evt_9"}), SECRET, replay_guard=guard
    )
    refusal("replayed", BODY, headers(), SECRET, replay_guard=guard)


def test_a_forged_delivery_is_not_remembered() -> None:
    guard = ReplayGuard()
    forged = {"X-MultiMail-Signature": "sha256=" + "a" * 64, "X-MultiMail-Delivery": "evt_1"}
    refusal("bad_signature", BODY, forged, SECRET, replay_guard=guard)
    assert len(guard) == 0
    assert verify_signature(
        BODY, headers(**{"X-MultiMail-Delivery": "evt_1"}), SECRET, replay_guard=guard
    )


def test_released_keys_let_a_retry_through() -> None:
    guard = ReplayGuard()
    given = headers(**{"X-MultiMail-Delivery": "evt_1"})
    delivery = verify_signature(BODY, given, SECRET, replay_guard=guard)
    guard.release(delivery.replay_keys)
    assert verify_signature(BODY, given, SECRET, replay_guard=guard)


@pytest.mark.parametrize(
    ("body", "secret", "error"),
    [
        pytest.param(BODY.decode(), SECRET, TypeError, id="decoded-body"),
        pytest.param(BODY, "", ValueError, id="empty-secret"),
        pytest.param(BODY, [], ValueError, id="no-secrets"),
        pytest.param(BODY, [SECRET, 3], TypeError, id="not-a-secret"),
    ],
)
def test_misuse_is_a_type_or_value_error(body: Any, secret: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        verify_signature(body, headers(), secret)


@pytest.mark.parametrize(
    "given",
    [
        pytest.param({"X-MultiMail-Signature": "sha256=" + "a" * 64}, id="bad"),
        pytest.param({"X-MultiMail-Signature": SECRET}, id="secret-as-signature"),
        pytest.param({}, id="missing"),
    ],
)
def test_secrets_never_appear_in_errors_or_reprs(given: dict[str, str]) -> None:
    with pytest.raises(WebhookVerificationError) as caught:
        verify_signature(BODY, given, [SECRET, OLD_SECRET], replay_guard=ReplayGuard())
    for text in (str(caught.value), repr(caught.value)):
        assert SECRET not in text
        assert OLD_SECRET not in text
        assert "a" * 64 not in text
    delivery = verify_signature(BODY, headers(), [SECRET, OLD_SECRET], replay_guard=ReplayGuard())
    assert SECRET not in repr(delivery)
    assert signature(BODY, SECRET) not in repr(delivery)
