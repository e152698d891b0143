"""mm-assistants: MultiMail email tools, a safe dispatcher and run drivers for OpenAI.

The public names, all importable from here::

    from mm_assistants import load_registry, Dispatcher, MultiMailClient, AssistantsRunDriver
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mm_assistants._sunset import AssistantsSunsetWarning
from mm_assistants._version import __version__

if TYPE_CHECKING:
    from mm_assistants.approvals import (
        ApprovalHub,
        ApprovalOutcome,
        ApprovalPolicy,
        MemoryPendingStore,
        PendingRecord,
        SQLitePendingStore,
        resolve_pending,
    )
    from mm_assistants.dispatch import (
        ANY_MAILBOX,
        AsyncDispatcher,
        AuditRecord,
        CallContext,
        Dispatcher,
        ToolCall,
        ToolCallError,
        ToolResult,
        calls_from_chat_message,
        calls_from_response,
        calls_from_run,
    )
    from mm_assistants.drivers import (
        AssistantsRunDriver,
        AsyncAssistantsRunDriver,
        AsyncResponsesDriver,
        PollPolicy,
        ResponsesDriver,
        RunOutcome,
        chat_tool_loop,
    )
    from mm_assistants.drivers.stream_events import (
        AwaitingApproval,
        StreamEvent,
        TextDelta,
        ToolCallArgumentsDone,
        ToolCallStarted,
        ToolOutputReady,
        TurnCompleted,
        TurnRetried,
        TurnStarted,
    )
    from mm_assistants.multimail import (
        AsyncMultiMailClient,
        MultiMailClient,
        MultiMailError,
        RetryPolicy,
    )
    from mm_assistants.openai_setup import create_assistant, update_assistant_tools
    from mm_assistants.tools import RequestSpec, ToolRegistry, ToolSpec, load_registry

# Where each public name lives. A name is imported on first use (PEP 562), so a process that
# imports one part (say mm_assistants.webhooks, to verify deliveries) loads only that part,
# not the dispatcher and the drivers. tests/test_public_names.py keeps this table, the
# imports above and __all__ equal.
_HOMES = {
    "ApprovalHub": "mm_assistants.approvals",
    "ApprovalOutcome": "mm_assistants.approvals",
    "ApprovalPolicy": "mm_assistants.approvals",
    "MemoryPendingStore": "mm_assistants.approvals",
    "PendingRecord": "mm_assistants.approvals",
    "SQLitePendingStore": "mm_assistants.approvals",
    "resolve_pending": "mm_assistants.approvals",
    "ANY_MAILBOX": "mm_assistants.dispatch",
    "AsyncDispatcher": "mm_assistants.dispatch",
    "AuditRecord": "mm_assistants.dispatch",
    "CallContext": "mm_assistants.dispatch",
    "Dispatcher": "mm_assistants.dispatch",
    "ToolCall": "mm_assistants.dispatch",
    "ToolCallError": "mm_assistants.dispatch",
    "ToolResult": "mm_assistants.dispatch",
    "calls_from_chat_message": "mm_assistants.dispatch",
    "calls_from_response": "mm_assistants.dispatch",
    "calls_from_run": "mm_assistants.dispatch",
    "AssistantsRunDriver": "mm_assistants.drivers",
    "AsyncAssistantsRunDriver": "mm_assistants.drivers",
    "AsyncResponsesDriver": "mm_assistants.drivers",
    "PollPolicy": "mm_assistants.drivers",
    "ResponsesDriver": "mm_assistants.drivers",
    "RunOutcome": "mm_assistants.drivers",
    "chat_tool_loop": "mm_assistants.drivers",
    "AwaitingApproval": "mm_assistants.drivers.stream_events",
    "StreamEvent": "mm_assistants.drivers.stream_events",
    "TextDelta": "mm_assistants.drivers.stream_events",
    "ToolCallArgumentsDone": "mm_assistants.drivers.stream_events",
    "ToolCallStarted": "mm_assistants.drivers.stream_events",
    "ToolOutputReady": "mm_assistants.drivers.stream_events",
    "TurnCompleted": "mm_assistants.drivers.stream_events",
    "TurnRetried": "mm_assistants.drivers.stream_events",
    "TurnStarted": "mm_assistants.drivers.stream_events",
    "AsyncMultiMailClient": "mm_assistants.multimail",
    "MultiMailClient": "mm_assistants.multimail",
    "MultiMailError": "mm_assistants.multimail",
    "RetryPolicy": "mm_assistants.multimail",
    "create_assistant": "mm_assistants.openai_setup",
    "update_assistant_tools": "mm_assistants.openai_setup",
    "RequestSpec": "mm_assistants.tools",
    "ToolRegistry": "mm_assistants.tools",
    "ToolSpec": "mm_assistants.tools",
    "load_registry": "mm_assistants.tools",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups find it directly
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "ANY_MAILBOX",
    "ApprovalHub",
    "ApprovalOutcome",
    "ApprovalPolicy",
    "AssistantsRunDriver",
    "AssistantsSunsetWarning",
    "AsyncAssistantsRunDriver",
    "AsyncDispatcher",
    "AsyncMultiMailClient",
    "AsyncResponsesDriver",
    "AuditRecord",
    "AwaitingApproval",
    "CallContext",
    "Dispatcher",
    "MemoryPendingStore",
    "MultiMailClient",
    "MultiMailError",
    "PendingRecord",
    "PollPolicy",
    "RequestSpec",
    "ResponsesDriver",
    "RetryPolicy",
    "RunOutcome",
    "SQLitePendingStore",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallArgumentsDone",
    "ToolCallError",
    "ToolCallStarted",
    "ToolOutputReady",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
    "TurnCompleted",
    "TurnRetried",
    "TurnStarted",
    "__version__",
    "calls_from_chat_message",
    "calls_from_response",
    "calls_from_run",
    "chat_tool_loop",
    "create_assistant",
    "load_registry",
    "resolve_pending",
    "update_assistant_tools",
]
