"""What the scripted model sees when it takes a turn.

A *conversation* is one Assistants run (the thread's messages plus that run's tool calls)
or one Responses chain (every request linked by ``previous_response_id``). Scripts choose
and fill their turns from a `ConversationState`; callables receive it directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class ChatMessage:
    """One message of the conversation (``role`` is ``user``, ``assistant``, …)."""

    role: str
    text: str


@dataclass(frozen=True)
class ToolExchange:
    """One function call of the model and the output the application sent back."""

    call_id: str
    name: str
    arguments: str
    output: str


@dataclass(frozen=True)
class ConversationState:
    """The conversation so far, as the scripted model sees it.

    ``turn`` counts the model turns already taken in this conversation (0 on the first).
    ``tool_outputs`` holds the answered calls in the order they were answered.

    Example (a callable script)::

        def script(state: ConversationState) -> dict[str, Any]:
            if state.turn == 0:
                return {"call": "check_inbox", "arguments": {...}}
            return {"say": f"{len(state.output('check_inbox')['emails'])} new emails"}
    """

    api: Literal["assistants", "responses"]
    turn: int
    messages: tuple[ChatMessage, ...] = ()
    tool_outputs: tuple[ToolExchange, ...] = ()
    instructions: str | None = None
    tools: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def last_user_message(self) -> str | None:
        """The text of the newest user message, if any."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text
        return None

    @property
    def last_tool_output(self) -> str | None:
        """The newest tool output, as sent (a string)."""
        return self.tool_outputs[-1].output if self.tool_outputs else None

    @property
    def last_tool_name(self) -> str | None:
        """The function whose output is the newest."""
        return self.tool_outputs[-1].name if self.tool_outputs else None

    def output(self, tool: str) -> Any:
        """The newest output of ``tool``, parsed as JSON when it is JSON; ``None`` if the
        tool has no output yet."""
        for exchange in reversed(self.tool_outputs):
            if exchange.name == tool:
                return parse_output(exchange.output)
        return None

    def called(self, tool: str) -> bool:
        """Whether ``tool`` has an output in this conversation."""
        return any(exchange.name == tool for exchange in self.tool_outputs)


def parse_output(text: str) -> Any:
    """A tool output as JSON when it parses, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text
