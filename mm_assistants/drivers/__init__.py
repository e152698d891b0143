"""The loops that talk to OpenAI: Assistants runs (poll or stream) and the Responses API."""

from mm_assistants.drivers.assistants import AssistantsRunDriver, AsyncAssistantsRunDriver
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.responses import AsyncResponsesDriver, ResponsesDriver, chat_tool_loop
from mm_assistants.drivers.steps import PollPolicy

__all__ = [
    "AssistantsRunDriver",
    "AsyncAssistantsRunDriver",
    "AsyncResponsesDriver",
    "PollPolicy",
    "ResponsesDriver",
    "RunOutcome",
    "chat_tool_loop",
]
