"""The `ApprovalHub`'s fleet transport: a `DecisionStore` and the doorbell it rings.

`FleetLink` connects one hub to one store. Its listener only notes ids (a bell must not
block the store's thread); ONE reader thread of its own reads the table for every noted id
the hub still waits on, many ids per query, and hands the decisions to the hub. Ids are
noted when:

- the bell rings for an email (any process recorded its decision);
- a wait subscribes (a decision may have landed before the subscription did);
- the listener (re)connected (bells rung while it was away are lost): every waited id;
- every ``reread_every`` seconds (`REREAD_EVERY` by default): every waited id, because a
  listener whose connection went silent without breaking (a half-open TCP path) hears
  nothing and never learns that it should reconnect.

Reads ask for at most `READ_BATCH` ids per query. A failed read is retried with a bounded
backoff while the ids are still waited on: a bell that rings late or not at all costs
latency (at most ``reread_every``), never a decision.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from mm_assistants.approvals.watch import decision_rank
from mm_assistants.state.decisions import DecisionStore, Listening

logger = logging.getLogger("mm_assistants.approvals")

#: The first and the longest pause before a failed read of the decisions is tried again.
RETRY_FIRST = 0.1
RETRY_MAX = 5.0
#: How long `FleetLink.close` waits for the reader thread to end.
CLOSE_TIMEOUT = 5.0
#: Seconds between two safety-net reads of every waited id: what a silently dead listener
#: costs a wait at most (one query per `READ_BATCH` waited ids per process, not per wait).
REREAD_EVERY = 60.0
#: The most ids one read of the store asks for.
READ_BATCH = 500


class DecisionNotShared(ConnectionError):
    """`ApprovalHub.publish` could not record the decision in the fleet's `DecisionStore`
    (the database is down or refused it) but woke this process's waits: waits in other
    processes were not told. ``woken`` is how many local waits it woke; the cause is
    chained. A webhook receiver should answer with an error, so that MultiMail delivers
    the event again later.
    """

    def __init__(self, email_id: str, woken: int) -> None:
        super().__init__(
            f"the decision of email {email_id!r} woke {woken} wait(s) here but was not"
            " recorded for the fleet"
        )
        self.email_id = email_id
        self.woken = woken


class FleetLink:
    """One hub's use of one `DecisionStore` (see the module docstring).

    ``heard(email_id, record)`` hands a stored decision to the hub; ``waits_on(email_id)``
    and ``waited()`` say which ids the hub's waits follow; ``reread_every`` is the period
    of the safety-net read of every waited id.
    """

    def __init__(
        self,
        decisions: DecisionStore,
        *,
        heard: Callable[[str, Mapping[str, Any]], object],
        waits_on: Callable[[str], bool],
        waited: Callable[[], Collection[str]],
        reread_every: float = REREAD_EVERY,
    ) -> None:
        self.decisions = decisions
        self._heard = heard
        self._waits_on = waits_on
        self._waited = waited
        self._starting = threading.Lock()
        self._lock = threading.Condition()
        self._pid = 0
        self._listening: Listening | None = None
        self._reader: threading.Thread | None = None
        self._noted: set[str] = set()
        self._stopping = False
        self.reread_every = reread_every
        self._reread_at = 0.0

    def start(self) -> None:
        """Start the reader and the listener in this process (again after a fork)."""
        with self._starting:
            with self._lock:
                if self._pid == os.getpid():
                    return
                # a fork's child has neither the parent's threads nor its listener
                self._pid = os.getpid()
                self._noted = set()
                self._stopping = False
                self._reader = threading.Thread(
                    target=self._read_loop, name="mm-assistants decision reader", daemon=True
                )
                self._reader.start()
            listening = self.decisions.listen(self._ring, self._reconnected)
            with self._lock:
                self._listening = listening

    def close(self) -> None:
        """Stop listening and reading (a later `start` begins again)."""
        with self._starting:
            with self._lock:
                if self._pid != os.getpid():
                    return
                listening, self._listening = self._listening, None
                reader, self._reader = self._reader, None
                self._stopping = True
                self._pid = 0
                self._lock.notify_all()
            if listening is not None:
                listening.close()
            if reader is not None and reader is not threading.current_thread():
                reader.join(timeout=CLOSE_TIMEOUT)

    def note(self, email_ids: Collection[str]) -> None:
        """Have the reader read the decisions of ``email_ids`` (those still waited on)."""
        if not email_ids:
            return
        with self._lock:
            self._noted.update(email_ids)
            self._lock.notify_all()

    def read(self, email_ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        """The stored decisions of ``email_ids``, read now on the calling thread."""
        return self.decisions.get_many(email_ids)

    def record(self, email_id: str, data: Mapping[str, Any]) -> bool:
        """Record a decision for the fleet at its `decision_rank` (the store's error, if
        any, is raised as is); False when the store keeps a more final decision."""
        return bool(self.decisions.record(email_id, data, rank=decision_rank(data)))

    def _ring(self, email_id: str) -> None:
        if self._waits_on(email_id):
            self.note((email_id,))

    def _reconnected(self) -> None:
        self.note(self._waited())

    def _next_batch(self) -> set[str] | None:
        """The ids to read next: those noted, plus every waited id when the safety-net
        read is due; ``None`` once the link is stopping. Waits for either."""
        with self._lock:
            if not self._noted and not self._stopping:
                self._lock.wait(max(self._reread_at - time.monotonic(), 0.0))
            if self._stopping:
                return None
            batch, self._noted = self._noted, set()
            due = time.monotonic() >= self._reread_at
            if due:
                self._reread_at = time.monotonic() + self.reread_every
        if due:  # read outside the link's lock: `waited` takes the hub's
            batch.update(self._waited())
        return batch

    def _read_loop(self) -> None:
        delay = RETRY_FIRST
        with self._lock:
            self._reread_at = time.monotonic() + self.reread_every
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            wanted = sorted(email_id for email_id in batch if self._waits_on(email_id))
            for start in range(0, len(wanted), READ_BATCH):
                if not self._read(wanted[start : start + READ_BATCH], delay):
                    # the rest is read again after the pause, with the failed part
                    self.note(wanted[start + READ_BATCH :])
                    delay = min(delay * 2, RETRY_MAX)
                    break
            else:
                delay = RETRY_FIRST

    def _read(self, wanted: list[str], delay: float) -> bool:
        """Read ``wanted`` and hand the decisions to the hub; on a failure note them again,
        pause ``delay`` seconds (or until `close`) and return False."""
        try:
            found = self.decisions.get_many(wanted)
        except Exception as error:  # noqa: BLE001 -- any store failure: read again later
            logger.warning(
                "could not read %d decision(s) (%s); trying again in %.1f s",
                len(wanted), type(error).__name__, delay,
            )  # fmt: skip
            with self._lock:
                self._noted.update(wanted)
                self._lock.wait(delay)  # close() cuts the pause short
            return False
        for email_id, record in found.items():
            try:
                self._heard(email_id, record)
            except Exception:  # one broken wait must not stop the reader
                logger.exception("could not hand a stored decision to its waits")
        return True
