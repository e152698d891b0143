"""One drive of a Responses run that may park: the step it holds a claim on, and how each
way out of the drive ends that claim (see `drivers.parked` for the order of writes).
`ResponsesDriver` and `AsyncResponsesDriver` share it; it does no OpenAI I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import openai

from mm_assistants.dispatch import ToolCall, ToolResult
from mm_assistants.drivers import parking
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.parked import Lease, Parking, lost
from mm_assistants.drivers.parking import RunCheckpoint


class Drive:
    """One drive of a Responses run (`ResponsesDriver.run` or ``resume``): its outcome so
    far, when it started, the ``checkpoint_meta``, the turns made, and the step it holds a
    claim on (checkpoint and lease), if any. Every exit ends that claim: `close` (the run
    ended: the checkpoint goes), `abandon` (an error: the claim lapses and the next
    resumer, found by a sweep, takes over)."""

    def __init__(
        self,
        outcome: RunOutcome,
        started: float,
        meta: Mapping[str, Any],
        step: tuple[RunCheckpoint, Lease] | None = None,
    ) -> None:
        self.outcome = outcome
        self.started = started
        self.meta = meta
        self.step = step
        self.turns = 1  # a drive starts on a response in hand
        #: The streaming driver's event delivery (`drivers.responses_stream`), if any.
        self.events: Any = None

    def held_step(self) -> tuple[RunCheckpoint, Lease]:
        """The claimed step (a resume always has one)."""
        if self.step is None:
            raise RuntimeError("this drive holds no checkpoint")
        return self.step

    def open(
        self, park: Parking, response: Any, calls: Sequence[ToolCall], request: Mapping[str, Any]
    ) -> bool:
        """Checkpoint ``response``'s step before its calls are sent, then end the previous
        step's checkpoint (its outputs were submitted). False: another process holds this
        step (``outcome`` is then ``busy``)."""
        response_id = str(response.id)
        opened = park.open_step(
            response_id,
            calls,
            request=parking.request_template(request),
            meta=self.meta,
            steps=self.outcome.steps,
        )
        self.close()
        if opened is None:
            lost(self.outcome, parking.checkpoint_id_for(response_id))
            return False
        self.step = opened
        return True

    def after_dispatch(self, park: Parking, results: Sequence[ToolResult]) -> RunOutcome | None:
        """Park the run when a send of the step is still undecided (the outcome), else
        ``None``: the outputs are submitted at once."""
        checkpoint, lease = self.held_step()
        if lease.lost:
            self.abandon()
            return lost(self.outcome, checkpoint.checkpoint_id)
        checkpoint = park.after_dispatch(checkpoint, results)
        if not checkpoint.held():
            self.step = (checkpoint, lease)
            return None
        self.step = None
        self.outcome.steps += 1
        return park.park(lease, checkpoint, self.outcome)

    def submitted(self, response: Any, decided: Mapping[str, ToolResult]) -> bool:
        """Count the resume's submit (one step, the ``decided`` outputs; the driver counted
        its request) and record it (`record_submit`); False (``outcome`` ``busy``) when the
        claim was lost."""
        self.outcome.tool_results.extend(decided.values())
        self.outcome.steps += 1
        return self.record_submit(response)

    def record_submit(self, response: Any) -> bool:
        """Record in the held step's checkpoint that its outputs went to OpenAI and
        ``response`` answered; False (``outcome`` ``busy``) when the claim was lost."""
        if self.step is None:
            return True
        checkpoint, lease = self.step
        checkpoint = parking.submitted(checkpoint, str(response.id))
        if lease.put(checkpoint):
            self.step = (checkpoint, lease)
            return True
        self.abandon()
        lost(self.outcome, checkpoint.checkpoint_id)
        return False

    def close(self) -> None:
        """The held step is over: delete its checkpoint (while the claim is ours)."""
        if self.step is not None:
            self.step[1].finish()
            self.step = None

    def abandon(self) -> None:
        """End the held step's claim, checkpoint kept (an error, or a lost claim): it
        *lapses* rather than being released, because calls of the step may have gone out
        (a send MultiMail accepted before a time limit or an OpenAI 5xx stopped the drive).
        A lapsed checkpoint is listed for a sweep, so the run is re-attached (same call
        ids, same idempotency keys) instead of its mail being run from scratch."""
        if self.step is not None:
            self.step[1].lapse()
            # where the run can be resumed, for an outcome still returned (an aborted run)
            self.outcome.checkpoint_id = self.step[0].checkpoint_id
            self.step = None

    def stopped(self, park: Parking | None) -> None:
        """The ``on_event`` callback stopped the run: the held step is *parked* (not left to
        lapse), so the outcome reads ``parked`` with ``checkpoint_id``, `resume` finishes
        it, an inbound router keeps the mail thread on it, and no sweep resumes a run its
        caller stopped. A step already handed back (parked, closed) is left as it is."""
        if self.step is None:
            return
        if park is None:
            self.abandon()
            return
        checkpoint, lease = self.step
        self.step = None
        park.park(lease, checkpoint, self.outcome)


def response_gone(error: Exception) -> bool:
    """Whether OpenAI's error says the response to continue from no longer exists."""
    return isinstance(error, openai.NotFoundError) or (
        getattr(error, "code", None) == "previous_response_not_found"
    )


def still_parked(outcome: RunOutcome, lease: Lease) -> RunOutcome:
    """``outcome`` of a resume that found a held send undecided: the claim ends, the
    checkpoint stays, the run is ``parked`` again."""
    lease.release()
    outcome.status = "parked"
    outcome.checkpoint_id = lease.checkpoint_id
    return outcome


def ended(outcome: RunOutcome, status: str, checkpoint_id: str) -> RunOutcome:
    """``outcome`` of a resume that did nothing: ``gone`` or ``busy``."""
    outcome.status = status
    outcome.checkpoint_id = checkpoint_id
    return outcome
