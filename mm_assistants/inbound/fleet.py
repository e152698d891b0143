"""The router's claims across a fleet (pure decisions): how often a claim is renewed, which
outcome parks a thread, where a resume continues, and what a resume did.

A thread's claim is a lease with a fencing token (`mm_assistants.state.RouteStore.token`):
the worker that drives the thread renews it with a heartbeat every third of the lease and
passes the token to every later write, so a worker that stalled past its lease finds its
claim gone and leaves the thread to the worker that took it over. A Responses run that
parks keeps the claim without a lease; the mail that arrives meanwhile is queued and follows
the function-call outputs when the run is resumed (`InboundRouter.resume`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mm_assistants.state import InboundMessage
from mm_assistants.state.routes import DEFAULT_LEASE

if TYPE_CHECKING:
    from mm_assistants.drivers import RunOutcome

#: What `InboundRouter.resume` did: ``resumed`` (the parked run was driven on: see
#: ``outcomes``; it may have parked again at a later step), ``parked`` (a held send of the
#: step is still undecided: the thread stays parked with its mail queued), ``busy``
#: (another resumer's live claim holds the run: likewise; resume again later), ``gone``
#: (the run had finished already; the mail queued meanwhile started a new run) or
#: ``not_parked`` (nothing to resume here: ``reason``).
ResumeAction = Literal["resumed", "parked", "busy", "gone", "not_parked"]
#: How a resume may end without going on from its step, so the mail it was given was not
#: sent: the run fell back to the late-decision message (its park was too old, or OpenAI
#: no longer has its response).
FELL_BACK = frozenset({"park_expired", "response_gone"})
#: The meta key of a checkpoint that names the MultiMail thread of a parked run.
META_THREAD = "mm_thread"
#: Longest thread id taken from a checkpoint (a row another process wrote).
MAX_THREAD_ID = 512


@dataclass(frozen=True)
class ResumeResult:
    """What `InboundRouter.resume` did with one parked run (see `ResumeAction`)."""

    action: ResumeAction
    mm_thread_id: str | None = None
    checkpoint_id: str | None = None
    reason: str | None = None
    outcomes: tuple[RunOutcome, ...] = ()


def heartbeat_every(store: object) -> float:
    """Seconds between two renewals of a claim: a third of the store's lease, so two
    renewals may fail (a slow database, a pause) before the claim lapses."""
    lease = getattr(store, "lease", DEFAULT_LEASE)
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
        lease = DEFAULT_LEASE
    return float(lease) / 3.0


def parked_checkpoint(outcome: RunOutcome) -> str | None:
    """The checkpoint id of a run that ended parked, else ``None``."""
    checkpoint = getattr(outcome, "checkpoint_id", None)
    if outcome.status != "parked" or not isinstance(checkpoint, str) or not checkpoint:
        return None
    return checkpoint


def continues_at(outcome: RunOutcome) -> str | None:
    """The response a Responses thread continues from after ``outcome``: its last response,
    except for a parked run (whose response waits for outputs only its resume sends) and a
    resume that did nothing (``busy``)."""
    if outcome.status in ("parked", "busy") or not outcome.run_id:
        return None
    return outcome.run_id


def follow_sent(outcome: RunOutcome, checkpoint: str) -> bool:
    """Whether a resume of ``checkpoint`` that ended as ``outcome`` sent the mail it was
    given (after the step's outputs). Not when it did nothing (``busy``, ``gone``), stayed
    parked at the same step (a decision is missing), or fell back (`FELL_BACK`)."""
    if outcome.status in ("busy", "gone"):
        return False
    if outcome.status == "parked" and getattr(outcome, "checkpoint_id", None) == checkpoint:
        return False
    return not (outcome.status == "expired" and outcome.incomplete_reason in FELL_BACK)


def responses_input(messages: list[InboundMessage]) -> list[dict[str, str]]:
    """The Responses input items of queued messages, in order (user messages)."""
    return [{"role": "user", "content": message.text} for message in messages]


def meta_thread(meta: object) -> str | None:
    """The MultiMail thread a checkpoint's ``checkpoint_meta`` names, or ``None`` (the meta
    is data another process wrote: anything but a short, non-empty string is refused)."""
    if not isinstance(meta, Mapping):
        return None
    thread = meta.get(META_THREAD)
    if not isinstance(thread, str) or not thread or len(thread) > MAX_THREAD_ID:
        return None
    return thread
