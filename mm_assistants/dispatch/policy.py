"""What the model may do, decided before any request, and how a failed request reads to it
(`error_refusal`) (pure).

Each check returns a `Refusal` (an error the model can act on) or passes. Arguments are
parsed defensively: whatever a model sends, the result is a refusal, never an exception.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from mm_assistants.multimail.errors import (
    MultiMailError,
    RateLimitError,
    RequestCancelled,
    TransportError,
)

MAX_ARGUMENT_CHARS = 1_000_000
MAX_DETAILS = 10


@dataclass(frozen=True)
class Refusal:
    """A call refused before any request, with what the model should change."""

    type: str
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)


def parse_arguments(text: Any) -> dict[str, Any] | Refusal:
    """The call's arguments as a JSON object, or a refusal saying why they are not one."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}  # some models send "" for a tool without parameters
    if not isinstance(text, str):
        return Refusal("invalid_arguments", "arguments must be a JSON object encoded as a string")
    if len(text) > MAX_ARGUMENT_CHARS:
        return Refusal(
            "invalid_arguments",
            f"arguments are {len(text)} characters long; the limit is {MAX_ARGUMENT_CHARS}",
        )
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        return Refusal("invalid_arguments", "arguments are nested too deeply")
    except ValueError as exc:
        return Refusal("invalid_arguments", f"arguments are not valid JSON: {exc}")
    if not isinstance(value, dict):
        kind = type(value).__name__
        return Refusal("invalid_arguments", f"arguments must be a JSON object, not {kind}")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return Refusal("invalid_arguments", "arguments contain invalid Unicode (lone surrogates)")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def schema_refusal(
    validator: Draft202012Validator,
    arguments: Mapping[str, Any],
    quick_check: Callable[[Any], bool] | None = None,
) -> Refusal | None:
    """A refusal listing each failing path and rule, or ``None`` when the arguments fit.

    ``quick_check`` (a `ToolSpec.quick_check`) answers the common case, valid arguments,
    cheaply; only arguments it does not pass are walked by ``validator``.
    """
    if quick_check is not None and quick_check(arguments):
        return None
    try:
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    except RecursionError:
        return Refusal("invalid_arguments", "arguments are nested too deeply")
    if not errors:
        return None
    details = [
        {
            "path": _json_path(error.absolute_path),
            "rule": str(error.validator),
            "message": _short(error.message),
        }
        for error in errors[:MAX_DETAILS]
    ]
    more = len(errors) - len(details)
    suffix = f" (and {more} more)" if more > 0 else ""
    return Refusal(
        "invalid_arguments",
        f"arguments do not match the tool's schema: {len(errors)} problem(s){suffix}",
        details,
    )


def _json_path(parts: Iterable[Any]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tool_refusal(name: Any, allowed: Collection[str], known: Collection[str]) -> Refusal | None:
    """Refuse a name outside the schema set (listing what exists) or outside the profile."""
    if not isinstance(name, str) or name not in known:
        return Refusal(
            "unknown_tool",
            f"there is no tool named {_short(str(name), 80)!r}",
            [{"available_tools": sorted(allowed)}],
        )
    if name not in allowed:
        return Refusal(
            "tool_not_allowed",
            f"the tool {name!r} is not enabled for this assistant",
            [{"available_tools": sorted(allowed)}],
        )
    return None


def mailbox_refusal(mailbox_id: Any, allowed: Collection[str] | None) -> Refusal | None:
    """Refuse a mailbox outside ``allowed`` (``None`` allows every mailbox)."""
    if allowed is None or mailbox_id is None or mailbox_id in allowed:
        return None
    return Refusal(
        "mailbox_not_allowed",
        f"this assistant may not use mailbox {_short(str(mailbox_id), 80)!r}",
        [{"allowed_mailboxes": sorted(allowed)}],
    )


def derive_idempotency_key(call_id: str, tool: str, scope_ids: Iterable[str | None]) -> str:
    """A key that is the same every time this very call is dispatched, and only then.

    Built from the run or response id (when known) and the call id, so a retried request
    or a re-dispatch after a crash sends once, while two calls never share a key.
    """
    material = "\x1f".join([*(part or "" for part in scope_ids), tool, call_id])
    return "mma_" + hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def error_refusal(error: MultiMailError) -> Refusal:
    """What the model reads of an API or network error: ``api_error`` (MultiMail said no),
    ``network_error`` (nothing was carried out), ``cancelled`` (the call was cancelled
    before anything was carried out) or ``outcome_unknown`` (a write may have been), with
    the status, the wait MultiMail asks for and its details."""
    details: dict[str, Any] = {}
    if error.status is not None:
        details["status"] = error.status
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        details["retry_after_seconds"] = error.retry_after
    if error.details:
        details.update({k: v for k, v in error.details.items() if k != "error"})
    if isinstance(error, TransportError) and error.outcome_unknown:
        kind = "outcome_unknown"
    elif isinstance(error, RequestCancelled):
        kind = "cancelled"
    elif isinstance(error, TransportError):
        kind = "network_error"
    else:
        kind = "api_error"
    return Refusal(kind, error.error or str(error), [details] if details else [])


def refusal_output(refusal: Refusal) -> str:
    """The JSON text the model reads for a refusal: always the same three keys,
    ``{"error": {"type", "message", "details"}}``, with ``details`` a list (maybe empty)."""
    error = {"type": refusal.type, "message": refusal.message, "details": refusal.details}
    return dumps({"error": error})


def dumps(value: Any) -> str:
    """Compact JSON that never fails: unknown objects become strings, NaN becomes null."""
    try:  # the common case in one pass; only an odd value pays for the cleaning walk
        clean = value
        text = json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False
        )
    except (ValueError, TypeError):
        clean = _finite(value)
        text = json.dumps(clean, ensure_ascii=False, separators=(",", ":"), default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: escape them rather than fail later
        text = json.dumps(clean, separators=(",", ":"), default=str)
    return text


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
