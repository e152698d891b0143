"""The emulator's knobs: the frozen start-up value and its live, changeable copy.

`OpenAIEmulatorSettings` is what a caller passes to ``create_openai_app``. Tests change a
few knobs while the server runs (poll interval, model latency, run expiry, scripts), so the
app keeps a `LiveSettings`: the current frozen value behind a lock, swapped whole on each
change so a request never sees half an update.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mm_assistants.sandbox.openai_api.builtin import BUILTIN_SCRIPTS
from mm_assistants.sandbox.openai_api.script import Script, ScriptSource, load_script

TOOL_OUTPUTS_LIMIT = 512 * 1024  # OpenAI's cap on the combined outputs of one submit
RESPONSE_RETENTION = 30 * 86400  # OpenAI keeps a stored response 30 days by default


@dataclass(frozen=True)
class OpenAIEmulatorSettings:
    """How the OpenAI-compatible emulator behaves.

    - ``run_expiry_seconds``: a run's ``expires_at`` is its ``created_at`` plus this.
    - ``poll_after_ms``: when set, every run and response answer carries the header
      ``openai-poll-after-ms`` with this value (the SDK's ``poll()`` sleeps that long).
    - ``model_latency``: seconds the scripted model "thinks" per turn; a run stays
      ``queued``/``in_progress`` that long after it was created or given tool outputs.
    - ``scripts``: extra scripts by name (plain data or a callable, see
      `mm_assistants.sandbox.openai_api.script`); the built-in ``email-assistant`` is
      always there unless a script of that name replaces it.
    - ``default_script``: the script used when neither metadata nor model names one.
    - ``require_declared_tools``: a scripted call to a function the run or request does
      not declare fails the run (a real model cannot call undeclared tools).
    - ``text_chunk_chars``: size of the ``thread.message.delta`` pieces when streaming.
    - ``tool_outputs_limit``: the combined size cap of one submit, in bytes (512 KB).
    - ``response_retention_seconds``: how long a stored response can be retrieved or
      continued (``previous_response_id``); older ones answer 404 / "not found", like
      OpenAI's after their 30 days (the default). Set it short to test what a caller does
      when a response it relies on is gone.

    Example::

        OpenAIEmulatorSettings(run_expiry_seconds=60, poll_after_ms=5,
                               scripts={"hello": [{"say": "Hello!"}]}, default_script="hello")
    """

    run_expiry_seconds: int = 600
    poll_after_ms: int | None = None
    model_latency: float = 0.0
    scripts: Mapping[str, ScriptSource] = field(default_factory=dict)
    default_script: str = "email-assistant"
    require_declared_tools: bool = True
    text_chunk_chars: int = 40
    tool_outputs_limit: int = TOOL_OUTPUTS_LIMIT
    response_retention_seconds: int = RESPONSE_RETENTION

    def __post_init__(self) -> None:
        if self.run_expiry_seconds <= 0:
            raise ValueError("run_expiry_seconds must be positive")
        if self.poll_after_ms is not None and self.poll_after_ms < 0:
            raise ValueError("poll_after_ms must be None or at least 0")
        if self.model_latency < 0:
            raise ValueError("model_latency must be at least 0")
        if self.text_chunk_chars < 1:
            raise ValueError("text_chunk_chars must be at least 1")
        if self.tool_outputs_limit < 1:
            raise ValueError("tool_outputs_limit must be positive")
        if self.response_retention_seconds < 1:
            raise ValueError("response_retention_seconds must be positive")


# The knobs the control route may change, with the type each accepts from JSON.
_ADJUSTABLE: dict[str, tuple[type, ...]] = {
    "run_expiry_seconds": (int,),
    "poll_after_ms": (int, type(None)),
    "model_latency": (int, float),
    "default_script": (str,),
    "require_declared_tools": (bool,),
    "text_chunk_chars": (int,),
    "tool_outputs_limit": (int,),
    "response_retention_seconds": (int,),
}


class LiveSettings:
    """The settings in force now, and the scripts by name; safe to use from any thread."""

    def __init__(self, settings: OpenAIEmulatorSettings) -> None:
        self._lock = threading.Lock()
        self._settings = settings
        self._scripts: dict[str, Script] = {}
        for name, source in {**BUILTIN_SCRIPTS, **settings.scripts}.items():
            self._scripts[name] = load_script(name, source)

    @property
    def current(self) -> OpenAIEmulatorSettings:
        """The frozen settings in force now."""
        with self._lock:
            return self._settings

    def update(self, changes: Mapping[str, Any]) -> OpenAIEmulatorSettings:
        """Apply ``changes`` (knob name → new value); raises ``ValueError`` on a bad one."""
        for key, value in changes.items():
            kinds = _ADJUSTABLE.get(key)
            if kinds is None:
                raise ValueError(f"Unknown setting '{key}'; adjustable: {sorted(_ADJUSTABLE)}")
            # bool is an int in Python, but "model_latency": true is a caller's mistake
            if isinstance(value, bool) is not (bool in kinds) or not isinstance(value, kinds):
                raise ValueError(f"Invalid value for '{key}': {value!r}")
        with self._lock:
            self._settings = dataclasses.replace(self._settings, **dict(changes))
            return self._settings

    def register_script(self, name: str, source: ScriptSource) -> Script:
        """Add or replace the script called ``name``; raises ``ValueError`` if malformed."""
        script = load_script(name, source)
        with self._lock:
            self._scripts[name] = script
        return script

    def script(self, name: str) -> Script | None:
        """The script called ``name``, if any."""
        with self._lock:
            return self._scripts.get(name)

    def script_names(self) -> list[str]:
        """The names of all known scripts, sorted."""
        with self._lock:
            return sorted(self._scripts)
