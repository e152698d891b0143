"""The time budget of the Celery tasks, checked against the app's broker settings (pure).

Three clocks must nest, shortest first::

    soft_time_limit  <  time_limit  <=  lease  <  visibility_timeout

- ``soft_time_limit``: Celery raises ``SoftTimeLimitExceeded`` in the task, which stops
  its run cleanly (the thread's mail stays queued; the sweep hands it to a worker again).
- ``time_limit``: the pool child is killed. Its claim is still inside its ``lease`` then, so
  no other worker can have started the same thread meanwhile.
- ``lease``: how long a claim of a thread (or of a parked run's checkpoint) outlives a
  worker that stopped renewing it; the sweep re-enqueues it once it lapsed.
- ``visibility_timeout`` (``broker_transport_options``; Redis's default is one hour): how
  long Redis waits for the ack of a ``acks_late`` message before it delivers the message
  again. Shorter than a task may run, and Redis delivers a message that is still being
  worked on; such a duplicate exits at once ("busy"), but it costs a worker slot each time.

Nothing here needs a countdown or an ETA: Redis emulates them by holding messages
unacknowledged, and one longer than the visibility timeout is delivered twice. Backoff and
due resumes live in PostgreSQL (``next_attempt_at``), where the sweep reads them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: kombu's Redis transport redelivers an unacknowledged message after this (seconds).
REDIS_VISIBILITY_TIMEOUT = 3600.0
#: What the soft limit leaves the run to stop in before the hard limit (seconds).
STOP_GRACE = 5.0


class VisibilityTimeoutWarning(UserWarning):
    """The broker's ``visibility_timeout`` is not longer than a task's lease: Redis will
    deliver messages again while their task still runs (see `mm_assistants.celery.config`)."""


@dataclass(frozen=True)
class TaskTimes:
    """The nested clocks of one install (seconds; see the module docstring)."""

    soft_time_limit: float
    time_limit: float
    lease: float
    beat_every: float
    visibility_timeout: float


def task_times(
    *,
    lease: float,
    beat_every: float,
    soft_time_limit: float | None = None,
    visibility_timeout: float = REDIS_VISIBILITY_TIMEOUT,
) -> TaskTimes:
    """The clocks for ``lease``: the soft limit defaults to three quarters of it and the
    hard limit to the soft one plus `STOP_GRACE`, capped at the lease.

    A ``ValueError`` for clocks that cannot nest (a lease or period that is not a finite
    number above 0, a soft limit not below the lease); the visibility timeout is only
    reported (`visibility_problem`), since the app is the user's.
    """
    for name, value in (("lease", lease), ("beat_every", beat_every)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number of seconds above 0, not {value!r}")
    soft = lease * 0.75 if soft_time_limit is None else soft_time_limit
    if not (math.isfinite(soft) and 0 < soft < lease):
        raise ValueError(
            f"soft_time_limit must be above 0 and below the lease ({lease:g} s), not {soft!r}"
        )
    hard = min(soft + STOP_GRACE, lease)
    return TaskTimes(soft, hard, lease, beat_every, visibility_timeout)


def visibility_timeout_of(conf: Mapping[str, Any]) -> float:
    """The visibility timeout the app's broker uses: ``broker_transport_options``'
    ``visibility_timeout``, or Redis's default."""
    options = conf.get("broker_transport_options") or {}
    value = options.get("visibility_timeout")
    return REDIS_VISIBILITY_TIMEOUT if value is None else float(value)


def wanted_visibility_timeout(times: TaskTimes) -> float:
    """The smallest visibility timeout worth setting: twice the lease (a task may run
    for its whole lease, and its ack must then still beat Redis's clock)."""
    return max(2 * times.lease, times.time_limit + times.lease)


def visibility_problem(times: TaskTimes) -> str | None:
    """What is wrong with ``times.visibility_timeout`` (``None``: nothing)."""
    if times.visibility_timeout > times.lease:
        return None
    wanted = wanted_visibility_timeout(times)
    return (
        f"broker_transport_options['visibility_timeout'] is {times.visibility_timeout:g} s,"
        f" not longer than the lease of {times.lease:g} s: Redis will deliver tasks again"
        f" while they still run. Set broker_transport_options={{'visibility_timeout':"
        f" {wanted:g}}} (or more; Redis's default is {REDIS_VISIBILITY_TIMEOUT:g})."
    )


def beat_entry(task_name: str, queue: str, every: float) -> dict[str, Any]:
    """The ``beat_schedule`` entry that sweeps every ``every`` seconds. A sweep that no
    worker took within one period expires: when the workers come back they get one sweep
    (their ``worker_ready`` one), not a backlog of them."""
    return {
        "task": task_name,
        "schedule": every,
        "options": {"queue": queue, "expires": every},
    }
