"""What a sandbox webhook delivery looks like on the wire, and how it is signed.

The body is compact JSON ``{"id": "evt_…", "event", "timestamp": "…Z", "data"}``. The
signature follows MultiMail's description: ``X-MultiMail-Signature: sha256=<hex>``, the
HMAC-SHA256 of the raw body keyed with the subscription's ``whsec_…`` secret. A receiver
recomputes it over the bytes it received (never a re-serialised JSON) and compares in
constant time, as `verify` does.

Outbound mail carries ``X-MultiMail-Identity``, a claim about who sent it: MultiMail signs
sorted canonical JSON (``ai_generated`` first) with its published key; the sandbox signs
the same JSON with its own secret (`identity_claim`: ``<base64url JSON>.<hex HMAC>``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

from mm_assistants.sandbox.multimail_api.formats import iso

SIGNATURE_HEADER = "X-MultiMail-Signature"
EVENT_HEADER = "X-MultiMail-Event"
DELIVERY_HEADER = "X-MultiMail-Delivery"
TIMESTAMP_HEADER = "X-MultiMail-Timestamp"
IDENTITY_HEADER = "X-MultiMail-Identity"
AI_HEADER = "X-AI-Generated"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}\Z")


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``: ``"sha256=<hex HMAC-SHA256>"``.

    Example::

        sign(b'{"event":"message.sent"}', "whsec_test")  # 'sha256=…' (64 hex digits)
    """
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return "sha256=" + digest


def verify(body: bytes, secret: str, signature: str) -> bool:
    """Whether ``signature`` (a header value) is ``sign(body, secret)``, in constant time."""
    return hmac.compare_digest(sign(body, secret), signature.strip())


def encode_body(delivery_id: str, event: str, created: float, data: dict[str, Any]) -> bytes:
    """The JSON body of one delivery (``created`` in unix seconds)."""
    document = {"id": delivery_id, "event": event, "timestamp": iso(created), "data": data}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def delivery_headers(
    delivery_id: str, event: str, signature: str, timestamp: float
) -> dict[str, str]:
    """The headers of one attempt (``timestamp``: when it is made, unix seconds)."""
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature,
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: str(int(timestamp)),
    }


def identity_claim(claims: dict[str, Any], secret: str) -> str:
    """The ``X-MultiMail-Identity`` value for ``claims``: base64url of the sorted, compact
    JSON, a dot, and its hex HMAC-SHA256 under ``secret``."""
    canonical = json.dumps(claims, sort_keys=True, separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(canonical).decode().rstrip("=")
    return payload + "." + hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest()


def read_identity(value: str, secret: str) -> dict[str, Any] | None:
    """The claims of an ``X-MultiMail-Identity`` value, or ``None`` unless ``secret``
    signed it (constant-time compare); ``None`` too for anything malformed (a header
    is whatever the sender wrote)."""
    payload, _, signature = value.partition(".")
    # compare_digest refuses non-ASCII text (TypeError): a signature is 64 hex digits
    if not _HEX_DIGEST.match(signature):
        return None
    try:
        canonical = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        expected = hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return None
        # only what this sandbox signed is parsed, so no hostile JSON reaches json.loads
        claims = json.loads(canonical)
    except (ValueError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None
