"""The fleet's work on Celery, Redis as the broker (the ``celery`` extra).

PostgreSQL is the system of record; Redis only rings the doorbell. `install` registers
four tasks on your own Celery app (``mm_assistants.route_inbound``, ``start_run``,
``resume_run`` and ``sweep``, on the ``mm-assistants`` queue), each carrying a key and
nothing else; `RingingWebhookReceiver` (or `AdmitAndRing`, or `ring`) is the web side,
which commits an inbound message's admission in PostgreSQL, answers MultiMail, and then
enqueues its thread, best effort. Worker flags and the time limits are in
`mm_assistants.celery.tasks` and `mm_assistants.celery.config`::

    from celery import Celery
    from mm_assistants.celery import install

    app = Celery("yourapp", broker="redis://127.0.0.1:6379/0")
    tasks = install(app, build_work)      # build_work() -> mm_assistants.inbound.work.FleetWork

    # celery -A yourapp worker -Q mm-assistants --prefetch-multiplier=1 -O fair
    # celery -A yourapp beat
"""

from mm_assistants.celery.config import (
    FleetConfigWarning,
    TaskTimes,
    VisibilityTimeoutWarning,
    task_times,
)
from mm_assistants.celery.receiver import (
    AdmitAndRing,
    RingingWebhookReceiver,
    ring,
    ring_resume,
)
from mm_assistants.celery.tasks import ProcessWork, Tasks, install

__all__ = [
    "AdmitAndRing",
    "FleetConfigWarning",
    "ProcessWork",
    "RingingWebhookReceiver",
    "TaskTimes",
    "Tasks",
    "VisibilityTimeoutWarning",
    "install",
    "ring",
    "ring_resume",
    "task_times",
]
