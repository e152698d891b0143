"""How long work that raised waits before it is tried again: `retry_delay`.

A thread whose run raised (`RouteStore.release` by its holder) and a parked run whose
resume raised (`CheckpointStore.defer`) are not due again at once: attempt ``n`` waits
``min(BACKOFF_BASE * 2 ** (n - 1), BACKOFF_CAP)`` seconds (5, 10, 20, ... 300). The stores
keep the moment in a ``next_attempt_at`` column that the fleet's sweep reads, so no task
queue needs a countdown or an ETA (Redis delivers a long one twice).
"""

from __future__ import annotations

#: The wait after the first attempt that raised, in seconds.
BACKOFF_BASE = 5.0
#: The longest wait, in seconds, however many attempts raised.
BACKOFF_CAP = 300.0
# 2 ** 64 times any base is past every cap: no need to build a larger number
_DOUBLINGS = 64


def retry_delay(attempts: int, *, base: float | None = None, cap: float | None = None) -> float:
    """Seconds to wait after ``attempts`` attempts raised (pure): 0 for none, then ``base``
    doubled per further attempt, at most ``cap`` (defaults: `BACKOFF_BASE`, `BACKOFF_CAP`,
    read at each call)."""
    base = BACKOFF_BASE if base is None else base
    cap = BACKOFF_CAP if cap is None else cap
    if attempts < 1:
        return 0.0
    return float(min(base * 2 ** min(attempts - 1, _DOUBLINGS), cap))
