"""Typed webhook events from the payloads MultiMail sends (pure; no I/O).

MultiMail has documented two shapes, and `parse_event` reads both (its docstring is the
payload spec): the envelope ``{"id", "event", "timestamp", "data": {...}}`` and the flat
``{"event_type", "mailbox", "message_id", "thread_id", "timestamp", ...}``. Every field is
optional and read defensively: a value of the wrong JSON type reads as absent, an event
type the library does not know becomes a plain `WebhookEvent`, and only a body that is not
a JSON object raises (`WebhookPayloadError`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Literal

MESSAGE_EVENTS = (
    "message.received",
    "message.sent",
    "message.delivered",
    "message.bounced",
    "message.complained",
)
OVERSIGHT_EVENTS = ("oversight.pending", "oversight.approved", "oversight.rejected")
EVENT_TYPES = MESSAGE_EVENTS + OVERSIGHT_EVENTS
#: The ``type`` of an event whose payload names no type at all.
UNKNOWN_TYPE = "unknown"

OversightDecision = Literal["pending", "approved", "rejected"]
_FRACTION = re.compile(r"^(.*\d\d:\d\d:\d\d)\.(\d+)(.*)$")
_EPOCH_TEXT = re.compile(r"\s*-?\d+(\.\d+)?\s*")
_EPOCH_MS = 1e11  # larger epoch numbers are milliseconds (1e11 s is the year 5138)


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


class WebhookPayloadError(ValueError):
    """The body is not a JSON object (not UTF-8 JSON, or JSON of another kind)."""


@dataclass(frozen=True)
class WebhookEvent:
    """One webhook event; the base of the typed events, and the whole of an unknown one.

    ``type`` is the event name (``"unknown"`` when the payload names none); ``id`` is the
    event's (delivery's) id; ``timestamp`` is timezone-aware UTC when it could be read.
    ``data`` is the event's data object (the whole payload in the flat shape) and ``raw`` the
    whole payload, both read-only; they are left out of ``repr`` and comparisons.
    """

    type: str
    id: str | None = None
    timestamp: datetime | None = None
    mailbox_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=_empty, repr=False, compare=False)
    raw: Mapping[str, Any] = field(default_factory=_empty, repr=False, compare=False)


@dataclass(frozen=True)
class MessageEvent(WebhookEvent):
    """``message.received/sent/delivered/bounced/complained``.

    ``from_`` is the sender's address (``from`` is a Python keyword). ``spam_verdict`` and
    ``spam_score`` are MultiMail's; ``dkim``, ``spf`` and ``dmarc`` are set only when the
    payload carries them (directly or in ``authentication_results``).
    """

    email_id: str | None = None
    message_id: str | None = None
    thread_id: str | None = None
    from_: str | None = None
    to: tuple[str, ...] = ()
    subject: str | None = None
    direction: str | None = None
    status: str | None = None
    spam_verdict: str | None = None
    spam_score: float | None = None
    dkim: str | None = None
    spf: str | None = None
    dmarc: str | None = None


@dataclass(frozen=True)
class OversightEvent(WebhookEvent):
    """``oversight.pending/approved/rejected``: a held email and what a human decided.

    ``decision`` follows from the type; ``status`` is the email's status as the payload
    gives it; ``decided_by`` and ``reason`` are the reviewer and the reviewer's reason.
    """

    email_id: str | None = None
    decision: OversightDecision = "pending"
    decided_by: str | None = None
    reason: str | None = None
    status: str | None = None
    thread_id: str | None = None


def parse_event(
    raw_body: bytes | bytearray | str | Mapping[str, Any], *, event_type: str | None = None
) -> WebhookEvent:
    """A typed event from a delivery's body (bytes or text) or an already decoded object.

    Accepted payload shapes (MultiMail has documented both; every field is optional):

    - envelope: ``{"id": "evt_…", "event": "message.received", "timestamp":
      "2026-03-01T12:00:00Z", "data": {"email_id", "message_id", "mailbox_id", "thread_id",
      "status", "from", "to", "subject", "spam_verdict", "spam_score", "decided_by",
      "reason", ...}}``
    - flat: ``{"event_type": "message.received", "mailbox": "mbx_…", "message_id",
      "thread_id", "timestamp", ...}``

    The type is read from ``event``, ``event_type`` or ``type``, else from the
    ``event_type`` argument (e.g. the ``X-MultiMail-Event`` header). Fields are looked up in
    ``data``, then an ``email``/``message`` object inside it, then the top level. The email
    id is ``email_id``, else ``id`` inside ``data``, else ``message_id``; the mailbox is
    ``mailbox_id`` or ``mailbox`` (a string, or an object's ``id``); ``timestamp`` (or
    ``created_at``) may be ISO 8601 or unix seconds/milliseconds. ``dkim``/``spf``/``dmarc``
    are read directly or from an ``authentication_results`` object. A value of the wrong
    JSON type reads as absent.

    The eight known types (`EVENT_TYPES`) give a `MessageEvent` or an `OversightEvent`;
    any other type a plain `WebhookEvent` (its ``data`` and ``raw`` intact). Raises
    `WebhookPayloadError` when the body is not a JSON object, and nothing else for any body.

    Example::

        event = parse_event(b'{"event": "oversight.approved", "data": {"email_id": "em_1"}}')
        event.email_id  # 'em_1' (an OversightEvent with decision 'approved')
    """
    top = _load(raw_body)
    inner = top.get("data")
    envelope = isinstance(inner, Mapping)
    data: Mapping[str, Any] = inner if isinstance(inner, Mapping) else top
    fields = _Fields(top, data, envelope)
    named = (_text(top.get(key)) for key in ("event", "event_type", "type"))
    kind = next((name for name in named if name), None) or event_type or UNKNOWN_TYPE
    top_id = _text(top.get("id"))
    base: dict[str, Any] = {
        "type": kind,
        "id": _text(fields.top("event_id", "delivery_id"))
        or (top_id if envelope or (top_id or "").startswith("evt_") else None),
        "timestamp": parse_timestamp(fields.get("timestamp", "created_at", "occurred_at")),
        "mailbox_id": _mailbox(fields),
        "data": MappingProxyType(dict(data)),
        "raw": MappingProxyType(dict(top)),
    }
    if kind in MESSAGE_EVENTS:
        return MessageEvent(
            **base,
            email_id=fields.email_id(),
            message_id=_text(fields.get("message_id")),
            thread_id=_text(fields.get("thread_id")),
            from_=_address(fields.get("from", "from_address", "sender")),
            to=_addresses(fields.get("to", "recipients")),
            subject=_text(fields.get("subject")),
            direction=_text(fields.get("direction")),
            status=_text(fields.get("status")),
            spam_verdict=_text(fields.get("spam_verdict")),
            spam_score=_number(fields.get("spam_score")),
            dkim=_verdict(fields.auth("dkim")),
            spf=_verdict(fields.auth("spf")),
            dmarc=_verdict(fields.auth("dmarc")),
        )
    if kind in OVERSIGHT_EVENTS:
        return OversightEvent(
            **base,
            email_id=fields.email_id(),
            decision=_decision(kind),
            decided_by=_address(fields.get("decided_by", "approved_by", "rejected_by")),
            reason=_text(fields.get("reason", "rejection_reason")),
            status=_text(fields.get("status")),
            thread_id=_text(fields.get("thread_id")),
        )
    return WebhookEvent(**base)


class _Fields:
    """Looks a field up in the event's data, an email object nested in it, then the top."""

    def __init__(self, top: Mapping[str, Any], data: Mapping[str, Any], envelope: bool):
        self._top = top
        self._data = data
        self._envelope = envelope
        nested = [data.get(key) for key in ("email", "message")]
        self._nested = [item for item in nested if isinstance(item, Mapping)]
        self._sources = [data, *self._nested, top]

    def top(self, *names: str) -> Any:
        return _first([self._top], names)

    def get(self, *names: str) -> Any:
        return _first(self._sources, names)

    def email_id(self) -> str | None:
        found = _text(self.get("email_id"))
        if found is None:
            # ``id`` names the email only inside the data; at the top it is the event's
            inner = [self._data, *self._nested] if self._envelope else self._nested
            found = _text(_first(inner, ("id",)))
        return found or _text(self.get("message_id"))

    def auth(self, name: str) -> Any:
        found = self.get(name)
        if found is None:
            results = self.get("authentication_results", "authentication")
            if isinstance(results, Mapping):
                found = results.get(name)
        return found


def _load(raw_body: bytes | bytearray | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(raw_body, Mapping):
        return raw_body
    if isinstance(raw_body, (bytes, bytearray, memoryview)):
        try:
            raw_body = bytes(raw_body).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise WebhookPayloadError("webhook body is not UTF-8 text") from None
    if not isinstance(raw_body, str):
        raise TypeError(f"parse_event takes bytes, str or a mapping, not {type(raw_body)}")
    try:
        loaded = json.loads(raw_body)
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays; ValueError also covers over-long integers
        raise WebhookPayloadError("webhook body is not valid JSON") from None
    if not isinstance(loaded, dict):
        raise WebhookPayloadError(f"webhook body is JSON {type(loaded).__name__}, not an object")
    return loaded


def _first(sources: list[Mapping[str, Any]], names: tuple[str, ...]) -> Any:
    for name in names:
        for source in sources:
            value = source.get(name)
            if value is not None:
                return value
    return None


def _mailbox(fields: _Fields) -> str | None:
    found = fields.get("mailbox_id", "mailbox")
    if isinstance(found, Mapping):
        return _text(found.get("id")) or _text(found.get("address"))
    return _text(found)


def _decision(kind: str) -> OversightDecision:
    if kind == "oversight.approved":
        return "approved"
    return "rejected" if kind == "oversight.rejected" else "pending"


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # ids sent as numbers still identify
    return None


def _address(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return _text(value.get("email")) or _text(value.get("address"))
    return _text(value)


def _addresses(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(found for found in map(_address, items) if found is not None)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _verdict(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return _text(value.get("result")) or _text(value.get("status"))
    return _text(value)


def parse_timestamp(value: Any) -> datetime | None:
    """A payload's time as timezone-aware UTC, or ``None`` when it cannot be read: ISO 8601
    (``Z`` or an offset; a naive time is UTC) or unix seconds/milliseconds (number or text)."""
    is_text = isinstance(value, str)
    number = _number(value) if not is_text or _EPOCH_TEXT.fullmatch(value) else None
    try:
        if number is not None:
            seconds = number / 1000 if abs(number) >= _EPOCH_MS else number
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        if not isinstance(value, str):
            return None
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        match = _FRACTION.match(text)
        if match:  # Python 3.10 reads only 3 or 6 fraction digits
            text = f"{match[1]}.{match[2][:6].ljust(6, '0')}{match[3]}"
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
