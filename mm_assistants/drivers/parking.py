"""Parked Responses runs, the pure half: the checkpoint's format and every decision about it.

A Responses run whose held send is still undecided after ``ApprovalPolicy.park_after``
ends as ``parked``: what it needs to go on is stored as a checkpoint (a `RunCheckpoint`,
JSON in a `mm_assistants.state.CheckpointStore`) and nothing waits. `drivers.parked` (the
shells) writes and reads it; this module decides, without I/O:

- **the id**: `checkpoint_id_for` the response whose calls the step answers, so the
  `PendingRecord` of a held email (its ``response_id``) leads to it (`resume_target`);
- **the format** (`FORMAT_VERSION`, `encode`, `decode`): the step's response id, every
  call (id, name, arguments; its output once known; for a held send, the email and when it
  was first attempted), the follow-up request without its input (model, instructions and
  tools again: ``previous_response_id`` does not carry instructions over), the registry
  version and a sha256 of the dispatcher's tools, the mailbox scope, the caller's
  ``checkpoint_meta``, and the phase. Never a secret: no client, no key, and requests
  with SDK transport options (``extra_headers``, ``extra_query``, ...) are refused;
- **the phases**: ``dispatching`` (written before any call of the step is sent, so a
  crash re-dispatches the same call ids, hence the same idempotency keys), ``parked``
  (outputs of the finished calls and the held sends recorded), ``submitted`` (the outputs
  went to OpenAI; ``next_response_id`` is the answer, so a later resumer never submits
  them again);
- **what a resume does** (`next_move`): a checkpoint older than `MAX_PARK_SECONDS` (OpenAI
  keeps responses 30 days) falls back to the late-decision message; a gated send first
  attempted more than `KEY_LIFETIME_SECONDS` ago (MultiMail keeps idempotency keys 24 h,
  less a margin) is never re-dispatched (`stale_send_output` says its outcome is unknown).

Example::

    ckpt = decode(stored.record, stored.format_version)   # CheckpointError when unusable
    if next_move(ckpt, now=time.time()) == "fall_back": ...
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from mm_assistants.approvals.store import PARK_LIMIT_SECONDS
from mm_assistants.state import PendingRecord
from mm_assistants.tools.ids import is_plausible_id

#: The layout `encode` writes; `decode` refuses any other.
FORMAT_VERSION = 1
#: How long a run may stay parked: OpenAI keeps a stored response 30 days by default, and
#: the follow-up needs the parked step's response, so 5 days are left as a margin.
MAX_PARK_SECONDS = PARK_LIMIT_SECONDS
#: A gated send is re-dispatched (same idempotency key) only this long after its first
#: attempt: MultiMail keeps idempotency keys 24 h; 30 min are left for the re-dispatch.
KEY_LIFETIME_SECONDS = 24 * 3600.0 - 1800.0
#: Request options never stored: SDK transport settings may carry credentials.
TRANSPORT_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
PREFIX = "park_"

Phase = Literal["dispatching", "parked", "submitted"]
Move = Literal["fall_back", "continue", "redispatch", "collect"]
_PHASES = ("dispatching", "parked", "submitted")
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class CheckpointError(ValueError):
    """A checkpoint this release cannot resume: another format version, a malformed
    record, or a driver configured with other tools or another mailbox scope. The message
    names what differs, never the record's content."""


@dataclass(frozen=True)
class HeldSend:
    """A gated send of the step still held for a human when the run parked."""

    email_id: str
    mailbox_id: str


@dataclass(frozen=True)
class ParkedCall:
    """One function call of the parked step. ``output`` is set once it is known (finished
    calls, decided held sends); ``first_attempt_at`` is when it was first dispatched."""

    call_id: str
    name: str
    arguments: str
    gated: bool = False
    first_attempt_at: float = 0.0
    output: str | None = None
    held: HeldSend | None = None


@dataclass(frozen=True)
class RunCheckpoint:
    """Everything a parked run needs to be resumed in any process (see the module doc)."""

    checkpoint_id: str
    response_id: str
    phase: Phase
    request: Mapping[str, Any]
    calls: tuple[ParkedCall, ...]
    registry: str
    tools_sha256: str
    scope: Mapping[str, Any]
    parked_at: float
    meta: Mapping[str, Any] = field(default_factory=dict)
    steps: int = 0
    next_response_id: str | None = None
    format: int = FORMAT_VERSION

    def __repr__(self) -> str:
        # the request and outputs hold conversation text: ids and counts only
        return (
            f"RunCheckpoint({self.checkpoint_id!r}, phase={self.phase!r},"
            f" calls={len(self.calls)}, held={len(self.held())})"
        )

    def held(self) -> list[ParkedCall]:
        """The calls still waiting for a human's decision."""
        return [call for call in self.calls if call.held is not None and call.output is None]


@dataclass(frozen=True)
class Fingerprint:
    """What a driver must share with the one that parked a run to resume it: the registry
    version, the sha256 of its dispatcher's tools, and its mailbox scope."""

    registry: str
    tools_sha256: str
    scope: Mapping[str, Any]


def checkpoint_id_for(response_id: str) -> str:
    """The checkpoint id of the step that answers ``response_id``'s calls. An id that is
    not a plain token (it came from the network) is hashed, so it can name nothing else."""
    if _PLAIN_ID.fullmatch(response_id):
        return PREFIX + response_id
    return PREFIX + "sha256_" + hashlib.sha256(response_id.encode()).hexdigest()[:40]


def resume_target(record: PendingRecord) -> str | None:
    """The checkpoint id a held email's decision may make resumable: the one its run
    parked under, else the one its response would have (``None`` without either)."""
    if record.checkpoint_id:
        return record.checkpoint_id
    if record.response_id:
        return checkpoint_id_for(record.response_id)
    return None


def tools_digest(tools: Any) -> str:
    """The sha256 of a tool list as canonical JSON (key order does not matter)."""
    text = json.dumps(tools, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def scope_of(mailbox_id: str | None, allowed: Any) -> dict[str, Any]:
    """A dispatcher's mailbox scope as JSON: its default mailbox and the allowed ones
    (``None``: any the key reaches)."""
    return {"mailbox_id": mailbox_id, "allowed": None if allowed is None else sorted(allowed)}


def request_template(request: Mapping[str, Any]) -> dict[str, Any]:
    """The follow-up request of a run without its input (stored in the checkpoint).
    Raises `ValueError` for what may not be stored: SDK transport options (they may hold
    credentials), ``store=False`` (OpenAI keeps no such response, so there is nothing to
    continue from) and values that are not JSON."""
    options = sorted(TRANSPORT_OPTIONS & set(request))
    if options:
        raise ValueError(
            f"a run that may park cannot take {', '.join(options)}: a checkpoint never"
            " stores transport options (they may carry credentials); set them on the client"
        )
    if request.get("store") is False:
        raise ValueError(
            "a run with store=False cannot park: OpenAI keeps no response to continue from;"
            " drop park_after or store=False"
        )
    template = {k: v for k, v in request.items() if k not in ("input", "previous_response_id")}
    try:
        json.dumps(template)
    except (TypeError, ValueError):
        raise ValueError("a run that may park needs JSON request parameters") from None
    return template


def check_meta(meta: Any) -> None:
    """Refuse ``checkpoint_meta`` that is not a dict of JSON values (`ValueError`)."""
    if meta is None:
        return
    if not isinstance(meta, dict):
        raise ValueError(f"checkpoint_meta must be a dict, not {type(meta).__name__}")
    try:
        json.dumps(meta)
    except (TypeError, ValueError):
        raise ValueError("checkpoint_meta must hold JSON values only") from None


def first_checkpoint(
    response_id: str,
    calls: Sequence[tuple[str, str, str, bool]],
    *,
    request: Mapping[str, Any],
    fingerprint: Fingerprint,
    meta: Mapping[str, Any],
    steps: int,
    now: float,
) -> RunCheckpoint:
    """The ``dispatching`` checkpoint of a step, written before any call is sent; each call
    is (call id, name, arguments, gated)."""
    return RunCheckpoint(
        checkpoint_id=checkpoint_id_for(response_id),
        response_id=response_id,
        phase="dispatching",
        request=dict(request),
        calls=tuple(ParkedCall(c, n, a, gated=g, first_attempt_at=now) for c, n, a, g in calls),
        registry=fingerprint.registry,
        tools_sha256=fingerprint.tools_sha256,
        scope=dict(fingerprint.scope),
        parked_at=now,
        meta=dict(meta),
        steps=steps,
    )


def with_outputs(
    checkpoint: RunCheckpoint,
    outputs: Mapping[str, str],
    held: Mapping[str, HeldSend],
) -> RunCheckpoint:
    """``checkpoint`` parked: each call's output (by call id) once known, and the sends
    still held; a call with neither keeps what it had."""
    calls = tuple(
        replace(call, output=outputs[call.call_id], held=None)
        if call.call_id in outputs
        else replace(call, held=held[call.call_id], output=None)
        if call.call_id in held
        else call
        for call in checkpoint.calls
    )
    return replace(checkpoint, phase="parked", calls=calls)


def submitted(checkpoint: RunCheckpoint, next_response_id: str) -> RunCheckpoint:
    """``checkpoint`` once its outputs were submitted and OpenAI answered
    ``next_response_id``: a later resumer continues from that response."""
    return replace(checkpoint, phase="submitted", next_response_id=next_response_id)


def next_move(checkpoint: RunCheckpoint, *, now: float) -> Move:
    """What a resume does with ``checkpoint`` at ``now``: ``fall_back`` (parked too long:
    the decisions go the late-decision way), ``continue`` (outputs already submitted: go on
    from ``next_response_id``), ``redispatch`` (a crash mid-dispatch: send the calls
    without an output again, same ids) or ``collect`` (read the held sends' decisions)."""
    if now - checkpoint.parked_at > MAX_PARK_SECONDS:
        return "fall_back"
    if checkpoint.phase == "submitted":
        return "continue"
    if checkpoint.phase == "dispatching":
        return "redispatch"
    return "collect"


def redispatchable(call: ParkedCall, *, now: float) -> bool:
    """Whether ``call`` may be dispatched again: anything but a gated send first attempted
    longer ago than MultiMail keeps its idempotency key (a resend could send it twice)."""
    return not call.gated or now - call.first_attempt_at < KEY_LIFETIME_SECONDS


def redispatch_plan(
    checkpoint: RunCheckpoint, now: float
) -> tuple[list[ParkedCall], RunCheckpoint]:
    """After a crash mid-dispatch: the calls to dispatch again (those without an output,
    same ids), and ``checkpoint`` with `stale_send_output` as the output of every gated
    send that may no longer be re-dispatched (`redispatchable`)."""
    todo = [call for call in checkpoint.calls if call.output is None and call.held is None]
    stale = {c.call_id: stale_send_output(c) for c in todo if not redispatchable(c, now=now)}
    calls = tuple(
        replace(call, output=stale[call.call_id]) if call.call_id in stale else call
        for call in checkpoint.calls
    )
    return [c for c in todo if c.call_id not in stale], replace(checkpoint, calls=calls)


def stale_send_output(call: ParkedCall) -> str:
    """The output of a gated send that may not be re-dispatched (`redispatchable`)."""
    return json.dumps(
        {
            "status": "unknown",
            "note": "This send was first attempted more than 24 hours ago and the process "
            "sending it stopped before its answer was recorded. It was not sent again: its "
            "outcome is unknown. Check the mailbox's sent and held mail before sending it "
            "again.",
        }
    )


def follow_up_request(
    checkpoint: RunCheckpoint, outputs: Sequence[Mapping[str, Any]], follow_with: Sequence[Any]
) -> dict[str, Any]:
    """The request that submits the step: the stored settings, every
    ``function_call_output`` in the calls' order, then ``follow_with`` (e.g. mail that
    arrived while the run was parked)."""
    request = dict(checkpoint.request)
    request["input"] = [*outputs, *follow_with]
    if "conversation" not in request:
        request["previous_response_id"] = checkpoint.response_id
    return request


def check_fingerprint(checkpoint: RunCheckpoint, fingerprint: Fingerprint) -> None:
    """Refuse (`CheckpointError`) to resume with a driver whose tools or mailbox scope
    differ from those of the driver that parked the run."""
    if checkpoint.registry != fingerprint.registry:
        raise CheckpointError(
            f"checkpoint {checkpoint.checkpoint_id} was parked with the {checkpoint.registry}"
            f" tools, this dispatcher has {fingerprint.registry}"
        )
    if checkpoint.tools_sha256 != fingerprint.tools_sha256:
        raise CheckpointError(
            f"checkpoint {checkpoint.checkpoint_id} was parked with another tool set (sha256"
            f" {checkpoint.tools_sha256[:12]}..., this dispatcher's is"
            f" {fingerprint.tools_sha256[:12]}...): resume it with a dispatcher configured"
            " like the one that parked it"
        )
    if dict(checkpoint.scope) != dict(fingerprint.scope):
        raise CheckpointError(
            f"checkpoint {checkpoint.checkpoint_id} was parked with another mailbox scope:"
            " resume it with a dispatcher configured like the one that parked it"
        )


def encode(checkpoint: RunCheckpoint) -> bytes:
    """The stored bytes of ``checkpoint`` (UTF-8 JSON)."""
    return json.dumps(asdict(checkpoint), sort_keys=True).encode()


def decode(record: bytes, format_version: int) -> RunCheckpoint:
    """A `RunCheckpoint` from its stored bytes; `CheckpointError` (a fixed message, never
    the record's text) for another format version or a malformed record."""
    if format_version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint format {format_version} is not {FORMAT_VERSION}: written by another"
            " release of mm-assistants"
        )
    try:
        data = json.loads(bytes(record).decode())
        checkpoint = _from_dict(data)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, OverflowError):
        raise CheckpointError("the checkpoint record is malformed") from None
    if checkpoint.format != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint format {checkpoint.format} is not {FORMAT_VERSION}")
    return checkpoint


def _from_dict(data: Any) -> RunCheckpoint:
    if not isinstance(data, dict):
        raise ValueError("not an object")
    calls = tuple(_call(item) for item in _typed(data["calls"], list))
    phase = data["phase"]
    if phase not in _PHASES:
        raise ValueError("phase")
    request = _typed(data["request"], dict)
    if TRANSPORT_OPTIONS & set(request):
        raise ValueError("transport options")  # never written by this module: refused
    return RunCheckpoint(
        checkpoint_id=_typed(data["checkpoint_id"], str),
        response_id=_typed(data["response_id"], str),
        phase=phase,
        request=request,
        calls=calls,
        registry=_typed(data["registry"], str),
        tools_sha256=_typed(data["tools_sha256"], str),
        scope=_typed(data["scope"], dict),
        parked_at=_number(data["parked_at"]),
        meta=_typed(data["meta"], dict),
        steps=_typed(data["steps"], int),
        next_response_id=_optional(data.get("next_response_id"), str),
        format=_typed(data["format"], int),
    )


def _call(item: Any) -> ParkedCall:
    data = _typed(item, dict)
    held = data.get("held")
    return ParkedCall(
        call_id=_typed(data["call_id"], str),
        name=_typed(data["name"], str),
        arguments=_typed(data["arguments"], str),
        gated=_typed(data["gated"], bool),
        first_attempt_at=_number(data["first_attempt_at"]),
        output=_optional(data.get("output"), str),
        held=None if held is None else HeldSend(_id(held["email_id"]), _id(held["mailbox_id"])),
    )


def _id(value: Any) -> str:
    # a held email's ids name URL paths of the status check: a stored row that could
    # name another path (written by anyone with the database) is refused
    if not is_plausible_id(value):
        raise ValueError("id")
    return value


def _typed(value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(kind.__name__)
    return value


def _optional(value: Any, kind: type) -> Any:
    return None if value is None else _typed(value, kind)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("number")
    # an int too large for a float raises OverflowError (`decode` refuses it); NaN and
    # infinity (json reads them) would never compare as too old: parked forever
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("number")
    return number
