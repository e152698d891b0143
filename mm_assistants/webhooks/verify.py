"""Is a webhook delivery really from MultiMail, and new? (pure; no I/O)

MultiMail signs the raw body: ``X-MultiMail-Signature: sha256=<hex HMAC-SHA256 of the body,
keyed with the subscription's whsec_… secret>``. `verify_signature` recomputes that over the
bytes received (never over re-serialised JSON), compares in constant time with every secret
it is given (so a rotation can accept the old and the new one), and refuses a delivery with
a `WebhookVerificationError` whose ``reason`` says why.

The ``X-MultiMail-Timestamp`` (unix seconds) and ``X-MultiMail-Delivery`` headers are not
covered by the signature as MultiMail describes it, so the replay defences key on the signed
body as well: a `ReplayGuard` remembers both the delivery id and a digest of the body, and a
copy of a captured delivery with new headers is still refused while it is remembered.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

SIGNATURE_HEADER = "X-MultiMail-Signature"
EVENT_HEADER = "X-MultiMail-Event"
DELIVERY_HEADER = "X-MultiMail-Delivery"
TIMESTAMP_HEADER = "X-MultiMail-Timestamp"
#: Event data carries ids, addresses and a subject, never message bodies: 1 MiB is generous.
DEFAULT_MAX_BODY = 1 << 20
#: How far (seconds) a delivery's timestamp may be from now, either way.
DEFAULT_TOLERANCE = 300.0
_HEX_LENGTH = 64  # a SHA-256 digest in hex

Reason = Literal[
    "missing_signature",
    "malformed_signature",
    "bad_signature",
    "too_large",
    "malformed_timestamp",
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
    only the new one matches, the old one can go). ``replay_keys`` is what a `ReplayGuard`
    remembered: pass it to `ReplayGuard.release` when handling the delivery failed, so that
    MultiMail's retry of it is accepted.
    """

    secret_index: int
    delivery_id: str | None = None
    event: str | None = None
    timestamp: float | None = None
    replay_keys: tuple[str, ...] = ()


class ReplayGuard:
    """A bounded, thread-safe memory of deliveries already accepted.

    Entries expire after ``ttl`` seconds (keep it at least the timestamp tolerance, or a
    replay could outlive its memory yet still be inside the window); past ``max_entries``
    the oldest are forgotten first, so a flood costs bounded memory. Share one guard among
    the workers of one receiver.

    Example::

        guard = ReplayGuard()
        verify_signature(body, headers, secret, replay_guard=guard)  # a second time: replayed
    """

    def __init__(
        self,
        *,
        ttl: float = 2 * DEFAULT_TOLERANCE,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (isinstance(ttl, (int, float)) and math.isfinite(ttl) and ttl > 0):
            raise ValueError(f"ReplayGuard ttl must be a finite number > 0, not {ttl!r}")
        if not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"ReplayGuard max_entries must be an int >= 1, not {max_entries!r}")
        self.ttl = float(ttl)
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> expiry, oldest first

    def __repr__(self) -> str:
        return f"ReplayGuard(ttl={self.ttl}, max_entries={self.max_entries}, size={len(self)})"

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._seen)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            self._expire(self._clock())
            return key in self._seen

    def claim(self, keys: Iterable[str]) -> bool:
        """Remember ``keys`` and return True, or return False when one is remembered already.

        Atomic: of two threads claiming the same key, exactly one wins.
        """
        keys = tuple(keys)
        with self._lock:
            now = self._clock()
            self._expire(now)
            if any(key in self._seen for key in keys):
                return False
            for key in keys:
                self._seen[key] = now + self.ttl
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            return True

    def release(self, keys: Iterable[str]) -> None:
        """Forget ``keys`` (e.g. a delivery whose handling failed, so its retry is taken)."""
        with self._lock:
            for key in keys:
                self._seen.pop(key, None)

    def _expire(self, now: float) -> None:
        # one ttl for all and a clock that does not go back: expiries are in insertion order
        while self._seen:
            key, expiry = next(iter(self._seen.items()))
            if expiry > now:
                break
            del self._seen[key]


def verify_signature(
    raw_body: bytes | bytearray | memoryview,
    headers: Mapping[str, Any],
    secret: str | bytes | Sequence[str | bytes],
    *,
    max_body: int = DEFAULT_MAX_BODY,
    tolerance: float | None = DEFAULT_TOLERANCE,
    replay_guard: ReplayGuard | None = None,
    clock: Callable[[], float] = time.time,
) -> VerifiedDelivery:
    """Accept a delivery or raise `WebhookVerificationError`.

    Checks, in order: body size (``too_large``); the signature header (``missing_signature``,
    ``malformed_signature``); the HMAC against each secret (``bad_signature``); when a
    timestamp header is present, that it is a number (``malformed_timestamp``) within
    ``tolerance`` seconds of ``clock()`` (``stale_timestamp``; ``None`` turns this off);
    with a ``replay_guard``, that neither the delivery id nor the body was accepted before
    (``replayed``). Header names are matched case-insensitively; the signature header may
    hold several comma-separated ``sha256=`` values, and any matching one is enough.

    Example::

        delivery = verify_signature(request_body, request.headers, ["whsec_new", "whsec_old"])

    Raises ``TypeError``/``ValueError`` for misuse: a body that is not bytes (a decoded
    body may no longer be the bytes that were signed) or no usable secret.
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
    timestamp = _check_timestamp(found.get(TIMESTAMP_HEADER.lower()), tolerance, clock)
    delivery_id = found.get(DELIVERY_HEADER.lower()) or None
    replay_keys: tuple[str, ...] = ()
    if replay_guard is not None:
        replay_keys = ("body:" + hashlib.sha256(body).hexdigest(),)
        if delivery_id is not None:
            replay_keys = ("delivery:" + delivery_id, *replay_keys)
        if not replay_guard.claim(replay_keys):
            raise WebhookVerificationError("replayed", "this delivery was accepted before")
    return VerifiedDelivery(
        secret_index=index,
        delivery_id=delivery_id,
        event=found.get(EVENT_HEADER.lower()) or None,
        timestamp=timestamp,
        replay_keys=replay_keys,
    )


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


def _check_timestamp(
    value: str | None, tolerance: float | None, clock: Callable[[], float]
) -> float | None:
    if value is None or value == "":
        return None
    try:
        timestamp = float(value)
    except ValueError:
        timestamp = math.nan
    if not math.isfinite(timestamp):
        raise WebhookVerificationError(
            "malformed_timestamp", f"{TIMESTAMP_HEADER} is not unix seconds"
        )
    if tolerance is not None:
        skew = clock() - timestamp
        if abs(skew) > tolerance:
            when = "old" if skew > 0 else "far in the future"
            raise WebhookVerificationError(
                "stale_timestamp", f"timestamp is {round(abs(skew))} s {when} (limit {tolerance} s)"
            )
    return timestamp
