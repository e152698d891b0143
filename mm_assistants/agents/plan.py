"""The Agents SDK tools' decisions, free of I/O: which tools, which approval wait, which call.

`mm_assistants.agents.tools` only wraps these in ``agents.FunctionTool`` objects and runs
the dispatcher; everything it decides is decided here, so it is tested without a model.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import CallContext, ToolCall

#: Why ``ApprovalPolicy(park_after=...)`` is refused for the Agents SDK in this release.
PARKING_UNSUPPORTED = (
    "parking a run (ApprovalPolicy.park_after) is not supported with the Agents SDK: its"
    " human-in-the-loop (needs_approval, interruptions, RunState) pauses a run before a tool"
    " runs, while MultiMail holds a send after the tool made it, and a tool that already ran"
    " cannot hand the SDK a paused state to resume later. Wait within the tool instead"
    " (ApprovalPolicy without park_after, bounded by max_wait), or pass"
    " ApprovalPolicy(wait=False) with an approval_store on the dispatcher and report the"
    " decision later with mm_assistants.approvals.resolve_pending"
)


def wait_policy(
    given: ApprovalPolicy | None, dispatcher_policy: ApprovalPolicy | None
) -> ApprovalPolicy:
    """The approval wait of a gated send made through an Agents SDK tool.

    ``given`` wins, then the dispatcher's own policy, then `ApprovalPolicy()`: like the run
    drivers, a held send is waited on unless the caller says ``wait=False``. A policy that
    parks is a `NotImplementedError` (see `PARKING_UNSUPPORTED`).
    """
    policy = given if given is not None else dispatcher_policy
    if policy is None:
        policy = ApprovalPolicy()
    if policy.park_after is not None:
        raise NotImplementedError(PARKING_UNSUPPORTED)
    return policy


def chosen_definitions(
    definitions: Sequence[dict[str, Any]], tools: Iterable[str] | None
) -> list[dict[str, Any]]:
    """The Responses-format definitions of ``tools`` (all of ``definitions`` when ``None``),
    in the dispatcher's order. A name the dispatcher does not enable is a `ValueError`: the
    model would be offered a tool whose every call is refused."""
    if isinstance(tools, str):
        raise TypeError("tools must be a collection of tool names, not one string")
    if tools is None:
        return list(definitions)
    wanted = list(dict.fromkeys(tools))
    enabled = {definition["name"] for definition in definitions}
    missing = [name for name in wanted if name not in enabled]
    if missing:
        raise ValueError(
            f"the dispatcher does not enable {', '.join(sorted(missing))}; widen its profile"
            " or tools= first (enabled: " + ", ".join(sorted(enabled)) + ")"
        )
    return [definition for definition in definitions if definition["name"] in wanted]


#: The start of the id given to an SDK call that came without one (see `dispatch_call_id`).
UNKEYED_PREFIX = "mma_unkeyed_"


def tool_call(
    call_id: str | None,
    name: str,
    arguments: str,
    cancel: threading.Event | None = None,
    group_id: str | None = None,
) -> ToolCall:
    """The dispatcher's `ToolCall` for one SDK invocation; its id is `dispatch_call_id`
    (the idempotency key of a gated send derives from that id and the tool name)."""
    return ToolCall(
        id=dispatch_call_id(call_id, arguments, group_id),
        name=name,
        arguments=arguments,
        context=CallContext(cancel=cancel),
    )


def dispatch_call_id(call_id: str | None, arguments: str, group_id: str | None = None) -> str:
    """The id one SDK invocation is dispatched under: ``"<tool_call_id>~<digest>"``.

    The digest covers the canonical arguments (and the run's ``group_id``, when the caller
    set one), because the SDK's ``tool_call_id`` alone is not unique: providers behind the
    chat-completions model reuse ids such as ``call_0`` in every run. MultiMail answers a
    repeated idempotency key with the first send's result for 24 hours, so a key from the
    id alone would answer a different email with an earlier one, and send nothing.

    - The same id with the same arguments (the SDK, or a resumed run, repeating a call)
      gets the same id, so a gated send still goes out once.
    - A different email under a reused id gets another id, so it is sent.
    - No id at all (``""``, which the SDK passes on when a provider sends none) gets a
      fresh random one: such a call cannot be recognised when repeated, so a repeat
      sends again rather than risk swallowing a different email.
    """
    if not call_id:
        return UNKEYED_PREFIX + secrets.token_hex(12)
    material = "\x1f".join([group_id or "", canonical_arguments(arguments)])
    digest = hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"{call_id}~{digest}"


def canonical_arguments(arguments: str) -> str:
    """``arguments`` as compact JSON with sorted keys, so spacing and key order do not
    make one call two; text that is not JSON stays as it is (the dispatcher refuses it)."""
    try:
        parsed = json.loads(arguments)
    except (ValueError, RecursionError):
        return arguments
    try:
        return json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, RecursionError):  # pragma: no cover - what loads, dumps
        return arguments
