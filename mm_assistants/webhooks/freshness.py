"""Is a signed delivery recent, and how long must it be remembered? (pure; no I/O)

Only the body is covered by MultiMail's signature, so only the body's own ``timestamp`` (the
time the event happened; ``created_at``/``occurred_at`` are read when it is missing) can
prove a delivery is recent. The ``X-MultiMail-Timestamp`` header is unsigned: anyone
replaying a captured body can set it to now. The rules, in `check_freshness`:

- the body's timestamp governs: more than ``tolerance`` seconds from now, either way, is
  ``stale_timestamp``; a timestamp field that cannot be read is ``malformed_timestamp``;
- a header that disagrees with the body by more than ``tolerance`` is
  ``mismatched_timestamp`` (MultiMail stamps each attempt; its retries are well inside);
- no timestamp in the body is ``missing_timestamp``, unless the caller opted out with
  ``require_timestamp=False`` (then the header, if any, is checked as a best effort);
- ``tolerance=None`` turns all of this off.

The default window, `DEFAULT_TOLERANCE` (one hour), is long enough for MultiMail's retries
of one event (up to 3, with exponential backoff: the body keeps the event's time), and the
replay memory keeps each delivery at least until it leaves the window (`keep_until`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mm_assistants.webhooks.events import parse_timestamp

#: How far (seconds) a delivery's signed timestamp may be from now, either way.
DEFAULT_TOLERANCE = 3600.0
#: How long a delivery is remembered when no window bounds it (a week).
DEFAULT_RETENTION = 7 * 24 * 3600.0
TimeReason = Literal[
    "malformed_timestamp", "missing_timestamp", "mismatched_timestamp", "stale_timestamp"
]
_BODY_TIME_FIELDS = ("timestamp", "created_at", "occurred_at")
# Inside ``data`` only the event's own time counts: ``created_at`` there is the email's.
_DATA_TIME_FIELDS = ("timestamp", "occurred_at")


@dataclass(frozen=True)
class Stale:
    """Why a delivery is refused: a `verify.Reason` and a detail without secrets."""

    reason: TimeReason
    detail: str


def body_timestamp(payload: Mapping[str, Any]) -> tuple[float | None, bool]:
    """The signed body's event time in unix seconds, and whether a time field was present
    (a present field that reads as no time is malformed, not missing)."""
    data = payload.get("data")
    sources: list[tuple[Mapping[str, Any], tuple[str, ...]]] = [(payload, _BODY_TIME_FIELDS)]
    if isinstance(data, Mapping):
        sources.append((data, _DATA_TIME_FIELDS))
    for source, names in sources:
        for name in names:
            value = source.get(name)
            if value is None:
                continue
            moment = parse_timestamp(value)
            return (None if moment is None else moment.timestamp()), True
    return None, False


def header_timestamp(value: str | None) -> tuple[float | None, bool]:
    """The header's unix seconds, and whether the header was there at all."""
    if value is None or value == "":
        return None, False
    try:
        number = float(value)
    except ValueError:
        return None, True
    return (number if math.isfinite(number) else None), True


def check_freshness(
    *,
    signed: tuple[float | None, bool],
    header: tuple[float | None, bool],
    now: float,
    tolerance: float | None,
    require_timestamp: bool,
) -> float | Stale | None:
    """The delivery's timestamp (``None`` when it has none and none is required), or the
    `Stale` refusal (module docstring for the rules)."""
    if tolerance is None:
        return signed[0] if signed[0] is not None else header[0]
    body_time, body_present = signed
    header_time, header_present = header
    if header_present and header_time is None:
        return Stale("malformed_timestamp", "the X-MultiMail-Timestamp header is not unix seconds")
    if body_present and body_time is None:
        return Stale("malformed_timestamp", "the signed body's timestamp cannot be read")
    if body_time is None:
        if require_timestamp:
            return Stale(
                "missing_timestamp",
                "the signed body carries no timestamp (the header alone is not signed)",
            )
        if header_time is None:
            return None
        return _window(header_time, now, tolerance)
    fresh = _window(body_time, now, tolerance)
    if isinstance(fresh, Stale) or header_time is None:
        return fresh
    if abs(header_time - body_time) > tolerance:
        return Stale(
            "mismatched_timestamp",
            f"the header's time is {round(abs(header_time - body_time))} s from the signed"
            f" body's (limit {tolerance:g} s)",
        )
    return fresh


def keep_until(timestamp: float | None, now: float, tolerance: float | None) -> float:
    """Until when (unix seconds) a delivery must be remembered: until it would fail the
    freshness check anyway, or `DEFAULT_RETENTION` when nothing bounds it."""
    if tolerance is None or timestamp is None:
        return now + DEFAULT_RETENTION
    return max(timestamp, now) + tolerance + 1.0  # a second more than the window's edge


def _window(timestamp: float, now: float, tolerance: float) -> float | Stale:
    skew = now - timestamp
    if abs(skew) <= tolerance:
        return timestamp
    when = "old" if skew > 0 else "far in the future"
    return Stale(
        "stale_timestamp", f"timestamp is {round(abs(skew))} s {when} (limit {tolerance:g} s)"
    )
