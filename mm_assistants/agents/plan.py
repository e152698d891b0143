"""The Agents SDK tools' decisions, free of I/O: which tools, which approval wait, which call.

`mm_assistants.agents.tools` only wraps these in ``agents.FunctionTool`` objects and runs
the dispatcher; everything it decides is decided here, so it is tested without a model.
"""

from __future__ import annotations

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


def tool_call(
    call_id: str, name: str, arguments: str, cancel: threading.Event | None = None
) -> ToolCall:
    """The dispatcher's `ToolCall` for one SDK invocation.

    The SDK's ``tool_call_id`` is the call's id and the only scope of its idempotency key
    (no response or run id): the Agents SDK resends the whole history, so the same call can
    arrive under a new response, and it must still be one send.
    """
    return ToolCall(id=call_id, name=name, arguments=arguments, context=CallContext(cancel=cancel))
