"""The values that cross the wire and the bytes they are made of: `ApiResponse`, one
attempt's `Call` and `Exchange`, and the pure helpers that encode, decode and scrub bodies.
No I/O: the shells in `client` feed these from httpx's streams."""

from __future__ import annotations

import codecs
import json as _json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from mm_assistants.multimail.errors import REQUEST_ID_HEADERS

#: The response headers worth keeping; the rest (cookies, tracing) stay behind.
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "content-disposition",
    "retry-after",
    *REQUEST_ID_HEADERS,
)
REDACTED = "<redacted>"


@dataclass(frozen=True)
class ApiResponse:
    """A successful (2xx) MultiMail answer.

    ``data`` is the decoded JSON (``None`` for an empty or non-JSON body, whose text is in
    ``text``); ``content`` the raw bytes. ``headers`` keeps a few lower-case headers
    (content-type, content-length, content-disposition, retry-after, x-request-id, cf-ray).
    ``attempts`` counts the tries it took; ``elapsed`` is the seconds from the first try to
    this answer, waits between retries included. ``truncated`` is true when `fetch_url`
    stopped reading at its ``max_bytes``.
    """

    status: int
    data: Any = None
    text: str = ""
    content: bytes = field(default=b"", repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None
    attempts: int = 1
    elapsed: float = 0.0
    truncated: bool = False

    def __repr__(self) -> str:
        # Answers hold whole emails: a repr shows their size, never their content.
        return (
            f"ApiResponse(status={self.status}, bytes={len(self.content)}, "
            f"request_id={self.request_id!r}, attempts={self.attempts}, "
            f"elapsed={self.elapsed:.3f}, truncated={self.truncated})"
        )


@dataclass(frozen=True)
class Call:
    """One request, fully decided, as both shells send it (and re-send it, byte for byte)."""

    method: str
    url: str
    path: str  # what logs and errors show: never a query string, which may hold signatures
    params: Mapping[str, str] | None
    body: bytes | None = field(repr=False)
    retry_safe: bool
    authorized: bool = True
    tool: str | None = None
    max_bytes: int | None = None
    raw: bool = False  # fetch_url: the bytes are the answer, no JSON decoding


@dataclass(frozen=True)
class Exchange:
    """What one attempt brought back."""

    status: int
    headers: Mapping[str, str]
    content: bytes = field(repr=False)
    truncated: bool = False
    #: A redirect's ``Location`` (3xx only): kept out of ``headers``, which answers carry.
    location: str | None = field(default=None, repr=False)


class BodyReader:
    """Collects a streamed body, stopping after ``max_bytes`` when given."""

    def __init__(self, max_bytes: int | None) -> None:
        self._max = max_bytes
        self._chunks: list[bytes] = []
        self._size = 0
        self.truncated = False

    def feed(self, chunk: bytes) -> bool:
        """Take ``chunk``; False once the limit is passed and reading should stop."""
        self._chunks.append(chunk)
        self._size += len(chunk)
        self.truncated = self._max is not None and self._size > self._max
        return not self.truncated

    def exchange(self, response: httpx.Response) -> Exchange:
        """The attempt's result, once the stream was read (or abandoned at the limit)."""
        content = b"".join(self._chunks)
        if self._max is not None:
            content = content[: self._max]
        headers = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
        status = response.status_code
        location = response.headers.get("location") if 300 <= status < 400 else None
        return Exchange(status, headers, content, self.truncated, location)


def encode_json(body: Mapping[str, Any]) -> bytes:
    # The same compact UTF-8 JSON httpx would send; NaN is refused, not sent as invalid JSON.
    return _json.dumps(
        dict(body), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode()


def decode_body(content: bytes, headers: Mapping[str, str]) -> tuple[Any, str]:
    """``(data, "")`` for a JSON body, ``(None, text)`` otherwise."""
    if not content:
        return None, ""
    content_type = headers.get("content-type", "").lower()
    if "json" in content_type or content.lstrip()[:1] in (b"{", b"["):
        try:
            return _json.loads(content), ""
        except ValueError:
            pass
    return None, content.decode(_charset(content_type), "replace")


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name == "charset" and value:
            try:
                return codecs.lookup(value.strip('"')).name
            except LookupError:
                break
    return "utf-8"


def bare_url(url: str) -> str:
    """``url`` without its query and fragment (download links carry signatures there)."""
    return url.split("?", 1)[0].split("#", 1)[0]


def scrub(value: Any, secret: str) -> Any:
    """``value`` with ``secret`` blanked out wherever a string holds it."""
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, Mapping):
        return {scrub(k, secret): scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secret) for v in value]
    return value
