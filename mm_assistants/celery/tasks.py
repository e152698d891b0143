"""The fleet's four tasks on the user's own Celery app (`install`).

PostgreSQL is the system of record; Redis only rings the doorbell. A task carries a key (a
MultiMail thread id, a checkpoint id) and nothing else: whatever it acts on is read from the
stores by `mm_assistants.inbound.work.FleetWork`, so a forged or replayed message can at
most make a worker look at a key and find nothing to do.

=============================================  ===============================================
task                                           what it does
=============================================  ===============================================
``mm_assistants.route_inbound(key)``           claims the thread and runs its queued mail;
                                               a live claim elsewhere: exits at once ("busy")
``mm_assistants.start_run(key)``               the same for an explicit run request
``mm_assistants.resume_run(checkpoint_id)``    resumes a parked run whose held email is decided
``mm_assistants.sweep()``                      enqueues what PostgreSQL says is waiting:
                                               admitted-but-unclaimed threads, lapsed claims,
                                               decided or lapsed checkpoints; it tops the
                                               queue up to ``sweep_limit`` messages only
=============================================  ===============================================

Every task is ``acks_late`` (a worker that dies mid-task leaves the message to Redis) and
``ignore_result`` (nobody reads a result: the outcome is in PostgreSQL).
``reject_on_worker_lost`` is left off on purpose: with it, a message whose task kills its
worker every time (a poisoned one) is delivered again forever. Without it, a lost worker's
message is acknowledged and the thread's claim lapses; the sweep hands the thread to
another worker and the attempts counter in PostgreSQL ends it as ``failed`` after
``max_attempts`` lost workers.

Connections never cross a fork: ``work_factory()`` (pools, LISTEN connections) is called
in each pool child at ``worker_process_init``, and lazily in a process that never forked
(``--pool=solo``, a test, a script). The worker's main process builds nothing: at
``worker_ready`` it only enqueues one sweep, so a fleet whose beat is dead still finds the
work that waited while no worker ran.

Run the workers with::

    celery -A yourapp worker -Q mm-assistants --prefetch-multiplier=1 -O fair

- ``--prefetch-multiplier=1``: a child reserves one message at a time. With ``acks_late``
  each reserved message stays unacknowledged until its task ends, so a larger prefetch
  parks messages behind a long run (and Redis delivers them again after the visibility
  timeout).
- ``-O fair``: a message goes to a child that is free, not to one busy with a long run.
- ``task_ignore_result`` (set on each task here): no result backend writes.
- ``worker_cancel_long_running_tasks_on_connection_loss=False`` (set it: Celery 5 warns
  while it is unset). True would terminate every running task whenever the worker loses
  Redis for a moment: each would count as a lost worker (a few broker blips would end a
  healthy thread ``failed``) and wait a whole lease to be recovered. Nothing needs the
  cancel: a copy Redis delivers again meanwhile finds the live claim and exits ``busy``.
  `install` warns (`FleetConfigWarning`) when it is True.

Each process's work is checked against the tasks' clocks when it is built
(`mm_assistants.celery.config.work_problems`): a `FleetConfigWarning` for each misfit.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mm_assistants.celery.config import (
    FleetConfigWarning,
    TaskTimes,
    VisibilityTimeoutWarning,
    beat_entry,
    clocks_of,
    connection_loss_problem,
    task_times,
    visibility_problem,
    visibility_timeout_of,
    work_problems,
)

logger = logging.getLogger("mm_assistants.celery")

ROUTE_INBOUND = "mm_assistants.route_inbound"
START_RUN = "mm_assistants.start_run"
RESUME_RUN = "mm_assistants.resume_run"
SWEEP = "mm_assistants.sweep"
BEAT_ENTRY = "mm-assistants-sweep"


class Plan(Protocol):
    """What a sweep returns (`mm_assistants.inbound.work.SweepPlan` is one)."""

    @property
    def threads(self) -> Sequence[str]: ...

    @property
    def checkpoints(self) -> Sequence[str]: ...


class Work(Protocol):
    """What the tasks call (`mm_assistants.inbound.work.FleetWork` is one)."""

    def route_inbound(self, key: str) -> Any: ...

    def start_run(self, key: str) -> Any: ...

    def resume_run(self, checkpoint_id: str) -> Any: ...

    def sweep(self, *, limit: int = 100) -> Plan: ...


class ProcessWork:
    """One ``Work`` per process: built by ``factory`` on first use, and built again in a
    process forked from one that had it (the inherited one's connections belong to the
    parent)."""

    def __init__(self, factory: Callable[[], Work], times: TaskTimes | None = None) -> None:
        self._factory = factory
        self._times = times
        self._work: Work | None = None
        self._pid = 0
        self._lock = threading.Lock()
        # A forked child must not close what it inherited (closing a connection ends the
        # parent's session on the shared socket): it is kept here, never used, never closed.
        self._inherited: list[Work] = []

    def get(self) -> Work:
        """This process's ``Work``."""
        with self._lock:
            if self._work is not None and self._pid != os.getpid():
                self._inherited.append(self._work)
                self._work = None
            if self._work is None:
                self._work = self._factory()
                self._pid = os.getpid()
                if self._times is not None:
                    check_work(self._work, self._times)
            return self._work

    def close(self) -> None:
        """Close this process's ``Work`` (when it has a ``close``) and forget it."""
        with self._lock:
            work, self._work = self._work, None
            if work is None or self._pid != os.getpid():
                return
        close = getattr(work, "close", None)
        if callable(close):
            close()


def check_work(work: Any, times: TaskTimes) -> list[str]:
    """Warn (`FleetConfigWarning`, and the log) for each way ``work`` does not fit the
    tasks' clocks (`mm_assistants.celery.config.work_problems`); returns the problems."""
    problems = work_problems(times, clocks_of(work))
    for problem in problems:
        logger.warning("fleet configuration: %s", problem)
        warnings.warn(problem, FleetConfigWarning, stacklevel=3)
    return problems


@dataclass(frozen=True)
class Tasks:
    """What `install` registered: the four Celery tasks, their queue and clocks."""

    app: Any
    queue: str
    times: TaskTimes
    route_inbound: Any
    start_run: Any
    resume_run: Any
    sweep: Any
    work: ProcessWork

    def enqueue(self, task: Any, *keys: str) -> bool:
        """Send ``task(*keys)`` to the queue now (no countdown), without the publish retries
        that would hold the caller while the broker is down. False, logged, when it could
        not be sent: the key waits in PostgreSQL, where the next sweep finds it."""
        try:
            task.apply_async(keys, queue=self.queue, retry=False)
        except Exception as error:  # noqa: BLE001 -- best effort: the sweep re-enqueues it
            # the type only: a broker error's text may carry the broker URL
            logger.warning(
                "could not enqueue %s%s: %s", task.name, keys or "()", type(error).__name__
            )
            return False
        return True

    def waiting(self) -> int | None:
        """How many messages wait in the queue, not yet taken by a worker (``None``: the
        broker could not say; logged by the error's type only, as its text may carry the
        broker URL)."""
        try:
            with self.app.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
                channel = connection.default_channel
                try:
                    _, count, _ = channel.queue_declare(queue=self.queue, passive=True)
                except Exception as error:  # kombu's "no such queue" is not one type
                    if _not_found(error):
                        return 0  # never declared: nothing ever waited in it
                    raise
                return int(count)
        except Exception as error:  # noqa: BLE001 -- best effort: the sweep rings its full plan
            logger.warning("could not count the queue %s: %s", self.queue, type(error).__name__)
            return None


def _not_found(error: Exception) -> bool:
    """A passive declare of a queue the broker does not know (AMQP reply code 404)."""
    # kombu's virtual transports (Redis) pass the code as text, py-amqp as a number
    return str(getattr(error, "reply_code", "")) == "404"


def install(
    app: Any,
    work_factory: Callable[[], Work],
    *,
    queue: str = "mm-assistants",
    lease: float = 60.0,
    beat_every: float = 30.0,
    max_attempts: int = 3,
    soft_time_limit: float | None = None,
    sweep_limit: int = 100,
) -> Tasks:
    """Register the fleet's tasks on ``app`` (a ``celery.Celery``), routed to ``queue``.

    ``work_factory()`` builds this process's `FleetWork` (its stores, router and clients);
    give its router the same ``lease`` and ``max_attempts`` as here, a ``checkpoint_lease``
    of at most half the lease and a ``park_after`` of at most half the soft time limit
    (`mm_assistants.celery.config`): each process's work is checked when it is built.
    ``lease`` sets the tasks' time limits; a broker ``visibility_timeout``
    not longer than it is reported with a `VisibilityTimeoutWarning` naming the value to
    set. The sweep tops the queue up to ``sweep_limit`` waiting messages, never beyond
    (`sweep_room`). A sweep is added to ``app.conf.beat_schedule`` every ``beat_every`` seconds and
    enqueued once by every worker at ``worker_ready``::

        app = Celery("yourapp", broker="redis://127.0.0.1:6379/0")
        tasks = install(app, build_work)       # build_work() -> FleetWork
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, not {max_attempts!r}")
    times = task_times(
        lease=lease,
        beat_every=beat_every,
        soft_time_limit=soft_time_limit,
        visibility_timeout=visibility_timeout_of(app.conf),
    )
    problem = visibility_problem(times)
    if problem is not None:
        warnings.warn(problem, VisibilityTimeoutWarning, stacklevel=2)
    cancel = connection_loss_problem(app.conf)
    if cancel is not None:
        warnings.warn(cancel, FleetConfigWarning, stacklevel=2)
    work = ProcessWork(work_factory, times)
    options: dict[str, Any] = {
        "shared": False,  # on this app only, not on every app created after it
        "acks_late": True,
        "ignore_result": True,
        "soft_time_limit": times.soft_time_limit,
        "time_limit": times.time_limit,
    }

    @app.task(name=ROUTE_INBOUND, **options)  # type: ignore[untyped-decorator]
    def route_inbound(key: str) -> None:
        report(ROUTE_INBOUND, key, work.get().route_inbound(key))

    @app.task(name=START_RUN, **options)  # type: ignore[untyped-decorator]
    def start_run(key: str) -> None:
        report(START_RUN, key, work.get().start_run(key))

    @app.task(name=RESUME_RUN, **options)  # type: ignore[untyped-decorator]
    def resume_run(checkpoint_id: str) -> None:
        report(RESUME_RUN, checkpoint_id, work.get().resume_run(checkpoint_id))

    @app.task(name=SWEEP, **options)  # type: ignore[untyped-decorator]
    def sweep() -> None:
        room = sweep_room(sweep_limit, tasks.waiting())
        if room < 1:
            logger.info("sweep: the queue holds %d or more messages already", sweep_limit)
            return
        plan = work.get().sweep(limit=room)
        for key in plan.threads:
            tasks.enqueue(route_inbound, key)
        for checkpoint_id in plan.checkpoints:
            tasks.enqueue(resume_run, checkpoint_id)
        if plan.threads or plan.checkpoints:
            logger.info(
                "sweep: %d thread(s), %d checkpoint(s)", len(plan.threads), len(plan.checkpoints)
            )

    tasks = Tasks(app, queue, times, route_inbound, start_run, resume_run, sweep, work)
    _route(app, queue)
    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        BEAT_ENTRY: beat_entry(SWEEP, queue, beat_every),
    }
    _connect_signals(tasks)
    return tasks


def sweep_room(limit: int, waiting: int | None) -> int:
    """How many keys a sweep may enqueue (pure): it tops the queue up to ``limit`` waiting
    messages, never beyond, so a fleet that is behind is not handed the same stalled keys
    again at every beat (the queue would grow without bound). ``waiting`` ``None`` (the
    broker could not say): ``limit``."""
    return limit if waiting is None else max(0, limit - waiting)


def _route(app: Any, queue: str) -> None:
    """Route the four tasks to ``queue`` ahead of the app's own ``task_routes``."""
    ours = {name: {"queue": queue} for name in (ROUTE_INBOUND, START_RUN, RESUME_RUN, SWEEP)}
    routes = app.conf.task_routes
    if routes is None:
        app.conf.task_routes = ours
    elif isinstance(routes, dict):
        app.conf.task_routes = {**routes, **ours}
    else:  # a sequence of routers: the first that answers wins
        app.conf.task_routes = (ours, *(routes if isinstance(routes, (list, tuple)) else [routes]))


def report(task: str, key: str, result: Any) -> None:
    """One log line per task: its key and what the work did (``action`` or ``status``)."""
    what = getattr(result, "action", None) or getattr(result, "status", None) or result
    logger.info("%s(%s): %s", task, key, what)


def _connect_signals(tasks: Tasks) -> None:
    from celery import signals

    def build(**_: Any) -> None:
        tasks.work.get()  # a pool child: its own pools and connections, before any task

    def close(**_: Any) -> None:
        tasks.work.close()

    def ready(sender: Any = None, **_: Any) -> None:
        # Only a worker of this app, and only enqueued: the main process builds nothing.
        if getattr(sender, "app", tasks.app) is tasks.app:
            tasks.enqueue(tasks.sweep)

    # weak=False: these closures have no other reference and must live as long as the app.
    signals.worker_process_init.connect(build, weak=False)
    signals.worker_process_shutdown.connect(close, weak=False)
    signals.worker_ready.connect(ready, weak=False)
