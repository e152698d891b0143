"""How long an inbound run may keep its thread's claim alive (`run_limit`).

A run's claim is renewed by a heartbeat while the run goes on; a run that hangs (a
deadlocked tool, an HTTP call with no timeout) would keep the thread forever, its mail
queued behind it. Past the limit the heartbeat stops renewing, the claim lapses one lease
later, another worker may take the thread over, and the hung run's writes are refused by
the claim's fencing token.
"""

from __future__ import annotations

#: The default longest run (seconds) a claim is kept alive for: several approval waits of
#: the default `ApprovalPolicy.max_wait` (540 s) fit, a hung run loses its thread in an hour.
DEFAULT_MAX_RUN = 3600.0
#: Added to a driver's own ``deadline``: the driver's last steps after it, and slow stores.
RUN_MARGIN = 300.0


def run_limit(max_run_seconds: float | None, driver: object) -> float:
    """How long a run (or a resume) keeps its thread's claim alive: ``max_run_seconds``
    when given; else `DEFAULT_MAX_RUN`, raised to the driver's ``deadline`` plus
    `RUN_MARGIN` when that is longer (a run the driver allows is never cut off)."""
    if max_run_seconds is not None:
        if (
            isinstance(max_run_seconds, bool)
            or not isinstance(max_run_seconds, (int, float))
            or not max_run_seconds > 0
        ):
            raise ValueError(f"max_run_seconds must be a positive number, not {max_run_seconds!r}")
        return float(max_run_seconds)
    deadline = getattr(driver, "deadline", None)
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not deadline > 0:
        return DEFAULT_MAX_RUN
    return max(DEFAULT_MAX_RUN, float(deadline) + RUN_MARGIN)
