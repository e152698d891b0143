"""Is a webhook delivery really from MultiMail, and new? (pure, but for the replay memory)

MultiMail signs the raw body: ``X-MultiMail-Signature: sha256=<hex HMAC-SHA256 of the body,
keyed with the subscription's whsec_… secret>``. `verify_signature` recomputes that over the
bytes received (never over re-serialised JSON), compares in constant time with every secret
it is given (so a rotation can accept the old and the new one), and refuses a delivery with
a `WebhookVerificationError` whose ``reason`` says why.

The ``X-MultiMail-Timestamp`` and ``X-MultiMail-Delivery`` headers are not covered by the
signature, so the replay defences key on the signed body: its ``timestamp`` must be recent
(`mm_assistants.webhooks.freshness`), and a `SeenDeliveries` store remembers the delivery
id, the body's event id and a digest of the body until the delivery leaves the window, so
a copy of a captured delivery with new headers is refused, also after a restart when the
store is a file (`mm_assistants.state`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mm_assistants.state import MemorySeenStore, SeenDeliveries
from mm_assistants.webhooks.events import WebhookPayloadError, parse_event
from mm_assistants.webhooks.freshness import (
    DEFAULT_TOLERANCE,
    Stale,
    body_timestamp,
    check_freshness,
    header_timestamp,
    keep_until,
)

SIGNATURE_HEADER = "X-MultiMail-Signature"
EVENT_HEADER = "X-MultiMail-Event"
DELIVERY_HEADER = "X-MultiMail-Delivery"
TIMESTAMP_HEADER = "X-MultiMail-Timestamp"
#: Event data carries ids, addresses and a subject, never message bodies: 1 MiB is generous.
DEFAULT_MAX_BODY = 1 << 20
_HEX_LENGTH = 64  # a SHA-256 digest in hex

Reason = Literal[
    "missing_signature",
    "malformed_signature",
    "bad_signature",
    "too_large",
    "malformed_timestamp",
    "missing_timestamp",
    "mismatched_timestamp",
    "stale_timestamp",
    "replayed",
]


class WebhookVerificationError(Exception):
    """A delivery was refused; ``reason`` says why (one of `Reason`).

    The text names the reason and what was wrong, never a secret or a signature, so it may
    be logged or answered to the sender as it is.
    """

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason


@dataclass(frozen=True)
class VerifiedDelivery:
    """What `verify_signature` learnt about an accepted delivery.

    ``secret_index`` is the position of the secret that matched (during a rotation, once
    only the new one matches, the old one can go). ``timestamp`` is the signed body's time
    (or, when the caller opted out of requiring one, the header's). ``replay_keys`` is what
    the replay memory remembered: pass it to its ``release`` when handling the delivery
    failed, so that MultiMail's retry of it is accepted.
    """

    secret_index: int
    delivery_id: str | None = None
    event: str | None = None
    timestamp: float | None = None
    replay_keys: tuple[str, ...] = ()


#: The older name of `MemorySeenStore` (one process's replay memory).
ReplayGuard = MemorySeenStore


def verify_signature(
    raw_body: bytes | bytearray | memoryview,
    headers: Mapping[str, Any],
    secret: str | bytes | Sequence[str | bytes],
    *,
    max_body: int = DEFAULT_MAX_BODY,
    tolerance: float | None = DEFAULT_TOLERANCE,
    require_timestamp: bool = True,
    replay_guard: SeenDeliveries | None = None,
    clock: Callable[[], float] = time.time,
) -> VerifiedDelivery:
    """Accept a delivery or raise `WebhookVerificationError`.

    Checks, in order: body size (``too_large``); the signature header (``missing_signature``,
    ``malformed_signature``); the HMAC against each secret (``bad_signature``); that the
    signed body's timestamp is within ``tolerance`` seconds of ``clock()`` and agrees with
    the ``X-MultiMail-Timestamp`` header (``malformed_timestamp``, ``missing_timestamp``,
    ``mismatched_timestamp``, ``stale_timestamp``: see `mm_assistants.webhooks.freshness`;
    ``require_timestamp=False`` accepts a body without one, ``tolerance=None`` turns the
    window off); with a ``replay_guard`` (a `SeenDeliveries` store), that neither the
    delivery id, the body's event id nor the body was accepted before (``replayed``).
    Header names are matched case-insensitively; the signature header may hold several
    comma-separated ``sha256=`` values, and any matching one is enough.

    Example::

        delivery = verify_signature(request_body, request.headers, ["whsec_new", "whsec_old"])

    Raises `WebhookPayloadError` when a timestamp is required and the signed body is not a
    JSON object (it cannot carry one), and ``TypeError``/``ValueError`` for misuse: a body
    that is not bytes (a decoded body may no longer be the bytes that were signed) or no
    usable secret.
    """
    keys = secret_keys(secret)
    given: object = raw_body  # checked at run time too: a str here is a common mistake
    if not isinstance(given, (bytes, bytearray, memoryview)):
        raise TypeError(f"raw_body must be the received bytes, not {type(given).__name__}")
    body = bytes(given)
    if len(body) > max_body:
        raise WebhookVerificationError("too_large", f"body is over {max_body} bytes")
    found = _headers(headers)
    digests = _signatures(found.get(SIGNATURE_HEADER.lower()))
    index = _matching_secret(body, keys, digests)
    payload = _payload(body, strict=tolerance is not None and require_timestamp)
    signed = body_timestamp(payload) if payload is not None else (None, False)
    now = clock()
    fresh = check_freshness(
        signed=signed,
        header=header_timestamp(found.get(TIMESTAMP_HEADER.lower())),
        now=now,
        tolerance=tolerance,
        require_timestamp=require_timestamp,
    )
    if isinstance(fresh, Stale):
        raise WebhookVerificationError(fresh.reason, fresh.detail)
    delivery_id = found.get(DELIVERY_HEADER.lower()) or None
    replay_keys: tuple[str, ...] = ()
    if replay_guard is not None:
        replay_keys = _replay_keys(body, payload, delivery_id)
        # only a signed time bounds how long a replay could pass: a header can be forged
        until = keep_until(signed[0], now, tolerance)
        if not replay_guard.claim(replay_keys, now=now, keep_until=until):
            raise WebhookVerificationError("replayed", "this delivery was accepted before")
    return VerifiedDelivery(
        secret_index=index,
        delivery_id=delivery_id,
        event=found.get(EVENT_HEADER.lower()) or None,
        timestamp=fresh,
        replay_keys=replay_keys,
    )


def _payload(body: bytes, *, strict: bool) -> Mapping[str, Any] | None:
    """The signed body as a JSON object; ``None`` (or, when ``strict``, a
    `WebhookPayloadError`) when it is not one."""
    try:
        loaded = json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        loaded = None
    if isinstance(loaded, dict):
        return loaded
    if strict:
        raise WebhookPayloadError("webhook body is not a JSON object, so it has no timestamp")
    return None


def _replay_keys(
    body: bytes, payload: Mapping[str, Any] | None, delivery_id: str | None
) -> tuple[str, ...]:
    """The delivery id (header), the event id (signed body) and the body's digest: a replay
    under new headers still repeats the last two."""
    found = []
    if delivery_id is not None:
        found.append("delivery:" + delivery_id)
    event_id = parse_event(payload).id if payload is not None else None
    if event_id is not None:
        found.append("event:" + event_id)
    found.append("body:" + hashlib.sha256(body).hexdigest())
    return tuple(found)


def secret_keys(secret: str | bytes | Sequence[str | bytes]) -> tuple[bytes, ...]:
    """The HMAC keys of one or more secrets; ``TypeError``/``ValueError`` when unusable."""
    secrets = [secret] if isinstance(secret, (str, bytes)) else list(secret)
    keys = []
    for item in secrets:
        if not isinstance(item, (str, bytes)):
            raise TypeError(f"a webhook secret must be str or bytes, not {type(item).__name__}")
        if not item:
            # an empty key makes the HMAC something anyone can compute
            raise ValueError("a webhook secret must not be empty")
        keys.append(item.encode("utf-8") if isinstance(item, str) else item)
    if not keys:
        raise ValueError("verify_signature needs at least one secret")
    return tuple(keys)


def _headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """The text headers, keyed by lower-cased name (frameworks differ in case and type)."""
    found: dict[str, str] = {}
    for key, value in headers.items():
        name: object = key  # ASGI-level headers may be bytes, whatever the annotation says
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(name, str) and isinstance(value, str):
            found[name.lower()] = value.strip()
    return found


def _signatures(value: str | None) -> list[bytes]:
    if not value:
        raise WebhookVerificationError("missing_signature", f"no {SIGNATURE_HEADER} header")
    digests = []
    for part in value.split(","):
        scheme, _, digest = part.strip().partition("=")
        digest = digest.strip().lower()
        if (
            scheme.strip().lower() == "sha256"
            and len(digest) == _HEX_LENGTH
            and all(char in "0123456789abcdef" for char in digest)
        ):
            digests.append(digest.encode("ascii"))
    if not digests:
        raise WebhookVerificationError(
            "malformed_signature", f"{SIGNATURE_HEADER} is not 'sha256=<64 hex digits>'"
        )
    return digests


def _matching_secret(body: bytes, keys: Sequence[bytes], digests: Sequence[bytes]) -> int:
    matched = -1
    # every pair is compared, so the time taken does not tell which secret (if any) matched
    for index, key in enumerate(keys):
        expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode("ascii")
        for digest in digests:
            if hmac.compare_digest(expected, digest) and matched < 0:
                matched = index
    if matched < 0:
        raise WebhookVerificationError("bad_signature", "the signature matches no secret")
    return matched
