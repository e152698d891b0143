"""When and how long to retry a MultiMail request (pure: no I/O, no clock).

Connection errors, timeouts, 429 and 5xx are worth another attempt, with exponential
backoff and jitter, honouring ``Retry-After`` up to a cap. Other 4xx never are. A request
that changes state and carries no idempotency key is never retried after it may have
reached the server (a 429 is the exception: the server refused it unprocessed).
"""

from __future__ import annotations

import email.utils
import math
import random as _random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How persistent the client is. ``max_attempts`` counts the first attempt too."""

    max_attempts: int = 3
    initial_delay: float = 0.25
    max_delay: float = 8.0
    multiplier: float = 2.0
    jitter: float = 0.25
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be an integer >= 1")
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"RetryPolicy.{name} must be a finite number >= 0")
        if self.multiplier < 1:
            raise ValueError("RetryPolicy.multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy.jitter is a fraction between 0 and 1")

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt, no retries."""
        return cls(max_attempts=1)


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None or now is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - now
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def next_delay(
    policy: RetryPolicy,
    attempt: int,
    *,
    retry_safe: bool,
    status: int | None = None,
    transport_error: bool = False,
    retry_after: float | None = None,
    random: Callable[[], float] = _random.random,
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or ``None`` to stop now.

    ``attempt`` is the number of attempts made so far (1 after the first).
    """
    if attempt >= policy.max_attempts:
        return None
    if not _worth_retrying(retry_safe, status, transport_error):
        return None
    if retry_after is not None:
        return retry_after if retry_after <= policy.max_retry_after else None
    base = min(policy.initial_delay * policy.multiplier ** (attempt - 1), policy.max_delay)
    spread = base * policy.jitter
    return max(base - spread + 2 * spread * random(), 0.0)


def _worth_retrying(retry_safe: bool, status: int | None, transport_error: bool) -> bool:
    if transport_error:
        return retry_safe  # the request may have reached the server
    if status is None or (status not in RETRY_STATUSES and not 500 <= status < 600):
        return False
    return status == 429 or retry_safe  # a 429 was refused unprocessed
