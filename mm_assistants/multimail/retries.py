"""When and how long to retry a MultiMail request. Pure: no I/O, no clock, no global state.

The rules, in the order `next_delay` applies them:

1. Never more than ``RetryPolicy.max_attempts`` attempts in all.
2. Only connection errors, timeouts, 429 and 5xx are worth another attempt; other 4xx
   never are (the answer will not change).
3. A request that is not ``retry_safe`` (a state-changing POST without an
   ``idempotency_key``) is never repeated once it may have reached the server: not after a
   5xx, not after a transport error. A 429 is the exception: MultiMail refused it
   unprocessed, so repeating it cannot send an email twice.
4. A ``Retry-After`` the server sent is honoured as given, up to
   ``RetryPolicy.max_retry_after``; beyond that the caller gets the error at once (with its
   ``retry_after``) rather than a client that silently hangs for an hour.
5. Otherwise exponential backoff: ``initial_delay * multiplier ** (attempt - 1)``, capped
   at ``max_delay``, spread by ``± jitter`` of itself so that many clients do not retry in
   lockstep.
"""

from __future__ import annotations

import email.utils
import math
import random as _random
from collections.abc import Callable
from dataclasses import dataclass

from mm_assistants import _validate

_ONE = "1 = no retries"
_GROWS = "so that delays never shrink"
_JITTER = "a fraction of the delay"
#: Statuses after which another attempt may succeed.
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class RetryPolicy:
    """How persistent a MultiMail client is.

    ``max_attempts`` counts the first attempt too (``1`` means never retry). Delays are in
    seconds; ``jitter`` is a fraction of each delay (``0.25`` spreads 1 s over 0.75 to 1.25 s).

    Example::

        MultiMailClient(retry=RetryPolicy(max_attempts=5, max_delay=2.0))
        MultiMailClient(retry=RetryPolicy.none())   # one attempt, fail fast
    """

    max_attempts: int = 3
    initial_delay: float = 0.25
    max_delay: float = 8.0
    multiplier: float = 2.0
    jitter: float = 0.25
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        # The rules every policy shares (mm_assistants._validate): finite numbers, no bools.
        _validate.whole("RetryPolicy", "max_attempts", self.max_attempts, minimum=1, note=_ONE)
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            _validate.number("RetryPolicy", name, getattr(self, name), note="seconds")
        _validate.number("RetryPolicy", "multiplier", self.multiplier, minimum=1, note=_GROWS)
        _validate.number("RetryPolicy", "jitter", self.jitter, maximum=1, note=_JITTER)

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy of one attempt: every failure is raised at once."""
        return cls(max_attempts=1)


#: The policy clients use unless told otherwise.
DEFAULT_RETRY = RetryPolicy()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or ``None`` when unusable.

    Takes delta-seconds (``"7"``) or an HTTP date; a date needs ``now`` (epoch seconds),
    which the caller supplies so that this function stays pure. Past dates give ``0.0``.

    >>> parse_retry_after("7")
    7.0
    """
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


def is_retryable(
    *, retry_safe: bool, status: int | None = None, transport_error: bool = False
) -> bool:
    """Whether a failure is worth another attempt at all, attempts and delays aside."""
    if transport_error:
        return retry_safe  # the request may have reached the server
    if status not in RETRY_STATUSES:
        return False
    return status == 429 or retry_safe  # a 429 was refused unprocessed


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
    """Seconds to sleep before attempt ``attempt + 1``, or ``None`` to stop and raise.

    ``attempt`` is the number of attempts made so far (``1`` after the first). Pass the
    failed attempt's ``status`` or ``transport_error=True``, and the parsed ``Retry-After``
    when the answer had one. ``random`` returns a float in [0, 1) and drives the jitter.

    >>> next_delay(RetryPolicy(jitter=0), 1, retry_safe=True, status=503)
    0.25
    >>> next_delay(RetryPolicy(), 1, retry_safe=False, status=503) is None
    True
    """
    if attempt >= policy.max_attempts:
        return None
    if not is_retryable(retry_safe=retry_safe, status=status, transport_error=transport_error):
        return None
    if retry_after is not None:
        return max(retry_after, 0.0) if retry_after <= policy.max_retry_after else None
    try:
        grown = policy.initial_delay * policy.multiplier ** (attempt - 1)
    except OverflowError:  # long past max_delay: only the cap matters now
        grown = math.inf if policy.initial_delay else 0.0
    base = min(grown, policy.max_delay)
    spread = base * policy.jitter
    return max(base - spread + 2 * spread * random(), 0.0)
