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

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mm_assistants.state import InboundMessage
from mm_assistants.state.routes import DEFAULT_LEASE

if TYPE_CHECKING:
    from mm_assistants.drivers import RunOutcome

#: What `InboundRouter.resume` did: ``resumed`` (the parked run was driven on: see
#: ``outcomes``), ``busy`` (another resumer's live claim holds the run: the thread stays
#: parked with its mail queued; resume again later), ``gone`` (the run had finished
#: already; the mail queued meanwhile started a new run) or ``not_parked`` (nothing to
#: resume here: ``reason``).
ResumeAction = Literal["resumed", "busy", "gone", "not_parked"]
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


def responses_input(messages: list[InboundMessage]) -> list[dict[str, str]]:
    """The Responses input items of queued messages, in order (user messages)."""
    return [{"role": "user", "content": message.text} for message in messages]


def meta_thread(meta: object) -> str | None:
    """The MultiMail thread a checkpoint's meta names, or ``None`` when it names none (the
    meta is data another process wrote: anything but a short string is refused)."""
    if isinstance(meta, (bytes, bytearray, memoryview)):
        try:
            meta = json.loads(bytes(meta))
        except ValueError:
            return None
    if not isinstance(meta, Mapping):
        return None
    for key in ("meta", "checkpoint_meta"):  # a whole checkpoint record: its meta part
        if isinstance(meta.get(key), Mapping):
            meta = meta[key]
            break
    thread: Any = meta.get(META_THREAD)
    if not isinstance(thread, str) or not thread or len(thread) > MAX_THREAD_ID:
        return None
    return thread
