"""Reading send, reply and schedule-edit bodies into checked values (400/413 otherwise).

Limits are MultiMail's: at most 50 ``to`` addresses, a subject of at most 998 characters,
a markdown body of at most 256 KB; ``send_at`` is UTC ISO 8601 ending in ``Z`` and lies in
the future; attachments are ``{name, content_base64, content_type}``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mm_assistants.sandbox.multimail_api.errors import ApiError, bad_request
from mm_assistants.sandbox.multimail_api.formats import parse_send_at
from mm_assistants.sandbox.multimail_api.lifecycle import GATE_TIMINGS

MAX_TO = 50
MAX_SUBJECT = 998
MAX_MARKDOWN = 256 * 1024


@dataclass(frozen=True)
class Attachment:
    """One attachment of an outgoing or injected email."""

    name: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class Draft:
    """A checked send or reply. ``to`` and ``subject`` are empty for a reply (they come
    from the email replied to)."""

    markdown: str
    to: tuple[str, ...] = ()
    subject: str = ""
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    idempotency_key: str | None = None
    send_at: float | None = None
    gate_timing: str | None = None


def read_send(body: Mapping[str, Any], now: float) -> Draft:
    """A ``POST mb/send`` body."""
    to = addresses(body, "to", required=True)
    if len(to) > MAX_TO:
        raise bad_request(f"'to' may hold at most {MAX_TO} addresses")
    subject = text(body, "subject", required=True)
    if len(subject) > MAX_SUBJECT:
        raise bad_request(f"'subject' may be at most {MAX_SUBJECT} characters")
    gate_timing = body.get("gate_timing")
    if gate_timing is not None and gate_timing not in GATE_TIMINGS:
        raise bad_request("'gate_timing' must be 'gate_first' or 'schedule_first'")
    return Draft(
        markdown=markdown(body),
        to=to,
        subject=subject,
        cc=addresses(body, "cc"),
        bcc=addresses(body, "bcc"),
        attachments=attachments(body.get("attachments")),
        idempotency_key=optional_text(body, "idempotency_key"),
        send_at=send_at(body.get("send_at"), now),
        gate_timing=gate_timing,
    )


def read_reply(body: Mapping[str, Any]) -> Draft:
    """A ``POST mb/reply/{email_id}`` body."""
    return Draft(
        markdown=markdown(body),
        cc=addresses(body, "cc"),
        bcc=addresses(body, "bcc"),
        attachments=attachments(body.get("attachments")),
        idempotency_key=optional_text(body, "idempotency_key"),
    )


def send_at(value: Any, now: float) -> float | None:
    """A checked ``send_at`` (``None`` when absent)."""
    if value is None:
        return None
    moment = parse_send_at(value)
    if moment is None:
        raise bad_request(
            "send_at must be an ISO 8601 UTC time ending in Z, e.g. 2026-03-15T14:00:00Z"
        )
    if moment <= now:
        raise bad_request("send_at must be in the future")
    return moment


def markdown(body: Mapping[str, Any]) -> str:
    """The required ``markdown`` body (413 when larger than 256 KB)."""
    value = text(body, "markdown", required=True)
    if len(value.encode()) > MAX_MARKDOWN:
        raise ApiError(413, f"markdown exceeds the maximum size of {MAX_MARKDOWN} bytes")
    return value


def text(body: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    """A string field; 400 when required and missing or empty, or not a string."""
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise bad_request(f"'{name}' is required and must be a non-empty string")
    return value


def optional_text(body: Mapping[str, Any], name: str) -> str | None:
    """A string field that may be absent or null."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"'{name}' must be a string")
    return value


def addresses(body: Mapping[str, Any], name: str, *, required: bool = False) -> tuple[str, ...]:
    """A list of email addresses (lower-cased); 400 on anything that is not one."""
    value = body.get(name)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or (required and not value):
        raise bad_request(f"'{name}' must be a non-empty array of email addresses")
    for item in value:
        if not is_address(item):
            raise bad_request(f"Invalid email address in '{name}': {item!r}")
    return tuple(item.strip().lower() for item in value)


def is_address(value: object) -> bool:
    """A plausible email address: ``local@domain.tld``, no spaces."""
    if not isinstance(value, str) or " " in value.strip():
        return False
    local, at, domain = value.strip().rpartition("@")
    return bool(at and local and "." in domain and not domain.startswith("."))


def attachments(value: Any) -> tuple[Attachment, ...]:
    """Checked attachments with decoded contents."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise bad_request("'attachments' must be an array")
    found: list[Attachment] = []
    for item in value:
        if not isinstance(item, Mapping) or not all(
            isinstance(item.get(k), str) and item.get(k) for k in ("name", "content_base64")
        ):
            raise bad_request("Each attachment needs 'name', 'content_base64' and 'content_type'")
        if "/" in item["name"] or any(a.name == item["name"] for a in found):
            raise bad_request(
                f"Attachment names must be unique and contain no '/': {item['name']!r}"
            )
        try:
            data = base64.b64decode(item["content_base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise bad_request(f"Attachment {item['name']!r} is not valid base64") from exc
        content_type = item.get("content_type") or "application/octet-stream"
        if not isinstance(content_type, str):
            raise bad_request("'content_type' must be a string")
        found.append(Attachment(item["name"], content_type, data))
    return tuple(found)
