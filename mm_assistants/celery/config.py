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

The work a task drives must fit in those clocks (`work_problems`, checked by `install` on
each process's work, a `FleetConfigWarning` for each misfit):

- the router's store has the same ``lease`` (``PostgresState(dsn, lease=...)``: its own
  default is 900 s, which makes a dead worker's thread wait a quarter of an hour);
- the driver's ``checkpoint_lease`` is at most half of it, so a dead run's checkpoint
  lapses before its thread's claim does and the next task re-attaches to that run instead
  of running the mail again beside it;
- ``park_after`` is at most half the soft time limit: the other half is for the model
  turns before the wait and after a decision that came in time;
- the driver parks (a Responses driver with ``checkpoints=`` and
  ``ApprovalPolicy(park_after=...)``). An Assistants run cannot park: its approval wait
  holds the task until the soft time limit stops it, so the Celery fleet drives Responses
  runs.

With ``lease=60`` (the default): soft limit 45 s, hard limit 50 s, ``checkpoint_lease``
at most 30 s, ``park_after`` at most 22.5 s (the example uses 30 s and 15 s).

Nothing here needs a countdown or an ETA: Redis emulates them by holding messages
unacknowledged, and one longer than the visibility timeout is delivered twice. Backoff and
due resumes live in PostgreSQL (``next_attempt_at``), where the sweep reads them: a run or
a resume that raised waits 5 s, then 10 s, 20 s, ... at most 300 s
(`mm_assistants.state.backoff`), new mail on its thread included.
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


#: The most of the soft time limit a run may wait for a decision before it parks.
PARK_SHARE = 0.5
#: The longest checkpoint lease, as a share of the thread claim's lease.
CHECKPOINT_SHARE = 0.5


class FleetConfigWarning(UserWarning):
    """The work a task drives does not fit the tasks' clocks (see `work_problems`)."""


@dataclass(frozen=True)
class WorkClocks:
    """The clocks of one process's work, as far as they could be read (``None``: unknown,
    such as a work that is not a `FleetWork`)."""

    route_lease: float | None = None
    checkpoint_lease: float | None = None
    park_after: float | None = None
    parks: bool | None = None


def clocks_of(work: Any) -> WorkClocks:
    """Read a `FleetWork`'s clocks: its route store's lease, and its router's driver's
    checkpoint lease and ``park_after`` (`Parking`); unknown parts are ``None``."""
    router = getattr(work, "router", None)
    if router is None:
        return WorkClocks()
    lease = getattr(getattr(work, "store", None), "lease", None)
    driver = getattr(router, "driver", None)
    parking = getattr(driver, "parking", None)
    if parking is None:
        return WorkClocks(_seconds(lease), parks=False)
    park_after = getattr(getattr(parking, "policy", None), "park_after", None)
    return WorkClocks(
        _seconds(lease),
        _seconds(getattr(parking, "lease_seconds", None)),
        _seconds(park_after),
        bool(getattr(parking, "parks", False)),
    )


def work_problems(times: TaskTimes, clocks: WorkClocks) -> list[str]:
    """What does not fit (pure; see the module docstring), each with the value to set."""
    problems = []
    lease = times.lease
    if clocks.route_lease is not None and clocks.route_lease != lease:
        problems.append(
            f"the router's store leases a thread for {clocks.route_lease:g} s, the tasks for"
            f" {lease:g} s: give it the same lease (PostgresState(dsn, lease={lease:g}))"
        )
    if clocks.parks is False:
        problems.append(
            "the router's driver does not park (an Assistants driver, or a ResponsesDriver"
            " without checkpoints= and ApprovalPolicy(park_after=...)): a run waiting for a"
            f" person holds its task until the soft time limit ({times.soft_time_limit:g} s)"
            " stops it; the Celery fleet drives Responses runs that park"
        )
    longest = lease * CHECKPOINT_SHARE
    if clocks.checkpoint_lease is not None and clocks.checkpoint_lease > longest:
        problems.append(
            f"checkpoint_lease is {clocks.checkpoint_lease:g} s, more than half the lease"
            f" ({lease:g} s): a dead run's checkpoint must lapse before its thread's claim,"
            f" or its mail is run again beside it; set checkpoint_lease={longest:g} or less"
        )
    wait = times.soft_time_limit * PARK_SHARE
    if clocks.parks and clocks.park_after is not None and clocks.park_after > wait:
        problems.append(
            f"park_after is {clocks.park_after:g} s, more than half the soft time limit"
            f" ({times.soft_time_limit:g} s): the model turns around the wait may not finish"
            f" before Celery stops the task; set park_after={wait:g} or less, or a longer lease"
        )
    return problems


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


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


def connection_loss_problem(conf: Mapping[str, Any]) -> str | None:
    """Why ``worker_cancel_long_running_tasks_on_connection_loss=True`` is wrong for these
    tasks (``None``: it is off)."""
    if not conf.get("worker_cancel_long_running_tasks_on_connection_loss"):
        return None
    return (
        "worker_cancel_long_running_tasks_on_connection_loss=True terminates every running"
        " fleet task when the worker loses Redis for a moment: each counts as a lost worker"
        " (a few blips fail a healthy thread) and waits a lease to be recovered. Leave it"
        " False: a copy Redis delivers again meanwhile finds the live claim and exits busy."
    )
