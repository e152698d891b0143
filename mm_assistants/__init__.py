"""mm-assistants: MultiMail email tools, a safe dispatcher and run drivers for OpenAI.

The public names, all importable from here::

    from mm_assistants import load_registry, Dispatcher, MultiMailClient, AssistantsRunDriver
"""

from mm_assistants._sunset import AssistantsSunsetWarning
from mm_assistants._version import __version__
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
from mm_assistants.multimail import (
    AsyncMultiMailClient,
    MultiMailClient,
    MultiMailError,
    RetryPolicy,
)
from mm_assistants.openai_setup import create_assistant, update_assistant_tools
from mm_assistants.tools import RequestSpec, ToolRegistry, ToolSpec, load_registry

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
    "ToolCall",
    "ToolCallError",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
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
