"""The loops that talk to OpenAI: Assistants runs (poll or stream) and the Responses API,
whose runs may park while a human decides and be resumed in any process
(`mm_assistants.drivers.parking`: the checkpoint format and ``resume_target``)."""

from mm_assistants.drivers.assistants import AssistantsRunDriver
from mm_assistants.drivers.assistants_async import AsyncAssistantsRunDriver
from mm_assistants.drivers.outcome import RunOutcome
from mm_assistants.drivers.parking import CheckpointError, resume_target
from mm_assistants.drivers.responses import AsyncResponsesDriver, ResponsesDriver, chat_tool_loop
from mm_assistants.drivers.steps import PollPolicy

__all__ = [
    "AssistantsRunDriver",
    "AsyncAssistantsRunDriver",
    "AsyncResponsesDriver",
    "CheckpointError",
    "PollPolicy",
    "ResponsesDriver",
    "RunOutcome",
    "chat_tool_loop",
    "resume_target",
]
