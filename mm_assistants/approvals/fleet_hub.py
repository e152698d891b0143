"""The `ApprovalHub`'s fleet transport: a `DecisionStore` and the doorbell it rings.

`FleetLink` connects one hub to one store. Its listener only notes ids (a bell must not
block the store's thread); ONE reader thread of its own reads the table for every noted id
the hub still waits on, many ids per query, and hands the decisions to the hub. Ids are
noted when:

- the bell rings for an email (any process recorded its decision);
- a wait subscribes (a decision may have landed before the subscription did);
- the listener (re)connected (bells rung while it was away are lost): every waited id.

A failed read is retried with a bounded backoff while the ids are still waited on: a bell
that rings late or not at all costs latency, never a decision.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Collection, Mapping
from typing import Any

from mm_assistants.state.decisions import DecisionStore, Listening

logger = logging.getLogger("mm_assistants.approvals")

#: The first and the longest pause before a failed read of the decisions is tried again.
RETRY_FIRST = 0.1
RETRY_MAX = 5.0
#: How long `FleetLink.close` waits for the reader thread to end.
CLOSE_TIMEOUT = 5.0


class DecisionNotShared(ConnectionError):
    """`ApprovalHub.publish` woke this process's waits but could not record the decision
    in the fleet's `DecisionStore` (the database is down or refused it): waits in other
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
    and ``waited()`` say which ids the hub's waits follow.
    """

    def __init__(
        self,
        decisions: DecisionStore,
        *,
        heard: Callable[[str, Mapping[str, Any]], object],
        waits_on: Callable[[str], bool],
        waited: Callable[[], Collection[str]],
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

    def record(self, email_id: str, data: Mapping[str, Any], woken: int) -> None:
        """Record a decision for the fleet; `DecisionNotShared` when the store fails."""
        try:
            self.decisions.record(email_id, data)
        except Exception as error:
            raise DecisionNotShared(email_id, woken) from error

    def _ring(self, email_id: str) -> None:
        if self._waits_on(email_id):
            self.note((email_id,))

    def _reconnected(self) -> None:
        self.note(self._waited())

    def _read_loop(self) -> None:
        delay = RETRY_FIRST
        while True:
            with self._lock:
                while not self._noted and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                batch, self._noted = self._noted, set()
            wanted = [email_id for email_id in batch if self._waits_on(email_id)]
            if not wanted:
                continue
            try:
                found = self.decisions.get_many(wanted)
            except Exception as error:  # noqa: BLE001 - any store failure: read again later
                logger.warning(
                    "could not read %d decision(s) (%s); trying again in %.1f s",
                    len(wanted), type(error).__name__, delay,
                )  # fmt: skip
                with self._lock:
                    self._noted.update(wanted)
                    self._lock.wait(delay)  # close() cuts the pause short
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = RETRY_FIRST
            for email_id, record in found.items():
                try:
                    self._heard(email_id, record)
                except Exception:  # one broken wait must not stop the reader
                    logger.exception("could not hand a stored decision to its waits")
