"""An OpenAI-compatible emulator (Assistants and Responses) with a scripted model.

The real ``openai`` SDK talks to it through ``base_url``. It keeps its state in SQLite
(``oai_*`` tables), computes run statuses lazily from an injectable clock, enforces
OpenAI's tool-call rules with OpenAI's error texts, streams runs as SSE, and answers with
turns taken from scripts (plain data or callables; built-in: ``email-assistant``).

Example::

    app = create_openai_app(db_path="oai.db", clock=time.time,
                            settings=OpenAIEmulatorSettings(poll_after_ms=10))

See `create_openai_app`, `OpenAIEmulatorSettings`, the script format in
`mm_assistants.sandbox.openai_api.script` and the control routes in
`mm_assistants.sandbox.openai_api.control`.
"""

from mm_assistants.sandbox.openai_api.app import create_openai_app
from mm_assistants.sandbox.openai_api.control import EmulatorControl
from mm_assistants.sandbox.openai_api.script import Script, ScriptError, Turn, load_script
from mm_assistants.sandbox.openai_api.settings import OpenAIEmulatorSettings
from mm_assistants.sandbox.openai_api.state import ChatMessage, ConversationState, ToolExchange

__all__ = [
    "ChatMessage",
    "ConversationState",
    "EmulatorControl",
    "OpenAIEmulatorSettings",
    "Script",
    "ScriptError",
    "ToolExchange",
    "Turn",
    "create_openai_app",
    "load_script",
]
