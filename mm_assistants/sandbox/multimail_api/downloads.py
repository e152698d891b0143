"""Signed attachment links (pure): what ``GET .../attachments/{filename}/url`` hands out.

MultiMail answers that route with a presigned link that works without an API key for one
hour, one file only. The sandbox's link is ``/v1/downloads/<filename>?token=<token>`` on
its own origin (the token in the query, where clients and log filters look for a URL's
secret); the token is ``<base64url JSON {blob, exp}>.<hex HMAC-SHA256>`` under a key
derived from the sandbox's secret (so a download token can never pass for an identity
claim or a signup challenge, which use the same secret). Whoever holds the link may fetch
that file until ``exp``, and nothing else: a changed token fails the signature (403), a
late one is gone (410).

>>> token = sign_download("em_1/a.txt", expires=100.0, secret="s")
>>> read_download(token, now=50.0, secret="s")
'em_1/a.txt'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from urllib.parse import quote

from mm_assistants.sandbox.multimail_api.errors import ApiError, forbidden

PREFIX = "/v1/downloads/"
_PURPOSE = b"mm-sandbox attachment download v1"
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}\Z")


def link_path(filename: str, token: str) -> str:
    """The path (and query) of the link to ``filename`` that ``token`` opens."""
    return f"{PREFIX}{quote(filename, safe='')}?token={token}"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def sign_download(blob_id: str, *, expires: float, secret: str) -> str:
    """The token of a link to blob ``blob_id`` (``<email id>/<filename>``) valid until
    ``expires`` (unix seconds)."""
    canonical = json.dumps({"blob": blob_id, "exp": int(expires)}, sort_keys=True).encode()
    payload = base64.urlsafe_b64encode(canonical).decode().rstrip("=")
    return payload + "." + hmac.new(_key(secret), canonical, hashlib.sha256).hexdigest()


def read_download(token: str, *, now: float, secret: str) -> str:
    """The blob id a valid, unexpired ``token`` names; a 403 `ApiError` for a token this
    sandbox did not sign (or a malformed one), a 410 for an expired one."""
    payload, _, signature = token.partition(".")
    refused = forbidden("Invalid download link")
    # compare_digest refuses non-ASCII text: a signature is 64 hex digits
    if not _HEX_DIGEST.match(signature):
        raise refused
    try:
        canonical = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except ValueError as exc:
        raise refused from exc
    expected = hmac.new(_key(secret), canonical, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise refused
    # only what this sandbox signed reaches json.loads
    claims = json.loads(canonical)
    if now >= claims["exp"]:
        raise ApiError(410, "Download link expired; ask for a new one")
    blob: str = claims["blob"]
    return blob
