"""One tool call in, one safe request, one model-ready output out."""

from mm_assistants.dispatch.audit import AuditRecord, AuditSink, log_sink
from mm_assistants.dispatch.calls import (
    CallContext,
    PendingApproval,
    ToolCall,
    ToolResult,
    calls_from_chat_message,
    calls_from_response,
    calls_from_run,
)
from mm_assistants.dispatch.core import DEFAULT_MAX_OUTPUT_CHARS, ToolCallError
from mm_assistants.dispatch.dispatcher import AsyncDispatcher, Dispatcher
from mm_assistants.dispatch.scope import ANY_MAILBOX, AnyMailbox

__all__ = [
    "ANY_MAILBOX",
    "DEFAULT_MAX_OUTPUT_CHARS",
    "AnyMailbox",
    "AsyncDispatcher",
    "AuditRecord",
    "AuditSink",
    "CallContext",
    "Dispatcher",
    "PendingApproval",
    "ToolCall",
    "ToolCallError",
    "ToolResult",
    "calls_from_chat_message",
    "calls_from_response",
    "calls_from_run",
    "log_sink",
]
