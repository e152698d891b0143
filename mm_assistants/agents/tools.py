"""`multimail_tools`: the dispatcher's MultiMail tools as ``openai-agents`` function tools.

Example::

    from agents import Agent, Runner
    from mm_assistants import AsyncDispatcher, AsyncMultiMailClient
    from mm_assistants.agents import multimail_tools

    dispatcher = AsyncDispatcher(AsyncMultiMailClient(), mailbox_id="mbx_1")
    agent = Agent(name="Inbox", instructions="...", tools=multimail_tools(dispatcher))
    result = await Runner.run(agent, "Answer Ana's email.")

Each tool is the bundled strict schema as the dispatcher exports it, and each invocation
is one `ToolCall` through the dispatcher: the same checks, mailbox scope, untrusted-content
framing, output bound, secret withholding and proof of work as in the run drivers. The
decisions are in `mm_assistants.agents.plan`; this module is the thin shell around them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from agents import FunctionTool
from agents.tool_context import ToolContext

from mm_assistants.agents.plan import chosen_definitions, tool_call, wait_policy
from mm_assistants.approvals import ApprovalPolicy
from mm_assistants.dispatch import AsyncDispatcher, Dispatcher, ToolCall, ToolResult

Invoke = Callable[[ToolContext[Any], str], Awaitable[str]]


def multimail_tools(
    dispatcher: Dispatcher | AsyncDispatcher,
    *,
    tools: Iterable[str] | None = None,
    approvals: ApprovalPolicy | None = None,
) -> list[FunctionTool]:
    """The tools ``dispatcher`` enables, as ``agents.FunctionTool`` objects for an ``Agent``.

    What the model may call, the schema set and the mailbox scope are the dispatcher's
    (its ``registry``, ``profile``/``tools`` and ``mailbox_id``/``allowed_mailboxes``);
    ``tools`` picks a subset of them (a name the dispatcher does not enable is a
    `ValueError`). Schemas are the bundled strict ones, passed with
    ``strict_json_schema=True`` and unchanged by the SDK's strict check.

    Each invocation returns the dispatcher's model-ready output: a refusal (bad JSON, a
    schema violation, a mailbox outside the scope) or an API error is an output for the
    model, never an exception into the runner (unless the dispatcher has
    ``on_error="raise"``). A call is dispatched under the SDK's ``tool_call_id`` and a
    digest of its arguments (`mm_assistants.agents.plan.dispatch_call_id`): the same call
    made twice sends once, a different email under a reused id is still sent, and a call
    without an id is never deduplicated. An `AsyncDispatcher` is awaited on the loop; a
    `Dispatcher` runs in a worker thread so the loop is never blocked, and a cancelled
    invocation stops that thread before its next write or retry (nothing is sent late).

    A gated send is waited on within the invocation per ``approvals`` (default: the
    dispatcher's policy, else `ApprovalPolicy()`), as the run drivers do; the output then
    tells the decision. A policy with ``park_after`` raises `NotImplementedError` (see
    `mm_assistants.agents.PARKING_UNSUPPORTED`).
    """
    if not isinstance(dispatcher, (Dispatcher, AsyncDispatcher)):
        raise TypeError(
            "multimail_tools needs a Dispatcher or AsyncDispatcher, not"
            f" {type(dispatcher).__name__}"
        )
    policy = wait_policy(approvals, dispatcher.approvals)
    definitions = chosen_definitions(dispatcher.tool_definitions("responses"), tools)
    return [
        FunctionTool(
            name=definition["name"],
            description=definition["description"],
            params_json_schema=definition["parameters"],
            on_invoke_tool=_invoker(dispatcher, definition["name"], policy),
            strict_json_schema=True,
        )
        for definition in definitions
    ]


def _invoker(dispatcher: Dispatcher | AsyncDispatcher, name: str, policy: ApprovalPolicy) -> Invoke:
    # The name is the tool's, not the context's: the model's call reaches this tool only
    # under its name, and the dispatcher checks the name against its profile either way.
    async def invoke(context: ToolContext[Any], arguments: str) -> str:
        group_id = context.run_config.group_id if context.run_config is not None else None
        if isinstance(dispatcher, AsyncDispatcher):
            call = tool_call(context.tool_call_id, name, arguments, group_id=group_id)
            result = await dispatcher.dispatch(call, approvals=policy)
        else:
            cancel = threading.Event()
            call = tool_call(context.tool_call_id, name, arguments, cancel, group_id)
            result = await _in_thread(dispatcher, call, cancel, policy)
        return result.output

    return invoke


async def _in_thread(
    dispatcher: Dispatcher, call: ToolCall, cancel: threading.Event, policy: ApprovalPolicy
) -> ToolResult:
    # A thread cannot be cancelled: when the SDK cancels the tool (its timeout, a failed
    # sibling, the user), the event ends an approval wait at once, and the client sends no
    # write and tries nothing again once it is set (a retry's pause ends with it).
    try:
        return await asyncio.to_thread(dispatcher.dispatch, call, approvals=policy)
    except asyncio.CancelledError:
        cancel.set()
        raise
