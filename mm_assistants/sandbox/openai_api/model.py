"""The scripted model's turn: from a script and a conversation to one decision.

Shared by Assistants runs and Responses. The conversation's progress through its script
(`Progress`) is stored with the run or response as plain JSON, so a restarted server picks
up where it left off. Script mistakes (no turn left, a reference that does not resolve, a
call to an undeclared function) become a ``failed`` decision with a message saying why:
the application under test sees a failed run instead of a hung one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mm_assistants.sandbox.openai_api.script import Script
from mm_assistants.sandbox.openai_api.state import ConversationState
from mm_assistants.sandbox.openai_api.templates import TemplateError, render, render_text

SCRIPTED_PREFIX = "scripted:"


@dataclass
class Progress:
    """Where a conversation stands in its script.

    ``position`` is the next slot; ``held`` keeps the calls of a parallel turn that are
    still to come one by one because ``parallel_tool_calls`` is false.
    """

    position: int = 0
    held: list[list[str]] = field(default_factory=list)  # [name, arguments JSON]

    def dump(self) -> dict[str, Any]:
        """The JSON form stored with the run or response."""
        return {"position": self.position, "held": [list(call) for call in self.held]}

    @classmethod
    def load(cls, data: Any) -> Progress:
        """`Progress` from its stored form (a fresh one for ``None``)."""
        if not isinstance(data, dict):
            return cls()
        return cls(int(data.get("position", 0)), [list(c) for c in data.get("held", [])])


@dataclass(frozen=True)
class Decision:
    """What the model does this turn.

    ``kind`` is ``calls`` (``calls`` holds ``(name, arguments JSON)`` pairs), ``say`` (the
    final ``text``), ``fail`` (``code`` and ``text``) or ``incomplete`` (``reason`` and an
    optional partial ``text``).
    """

    kind: Literal["calls", "say", "fail", "incomplete"]
    calls: tuple[tuple[str, str], ...] = ()
    text: str = ""
    code: str = "server_error"
    reason: str = ""


def decide(
    script: Script,
    state: ConversationState,
    progress: Progress,
    *,
    parallel: bool,
    declared: tuple[str, ...] | None,
) -> Decision:
    """The decision for this turn; ``progress`` is updated in place.

    ``declared`` lists the functions the run or request offers; ``None`` skips the check.
    """
    if progress.held:
        name, arguments = progress.held.pop(0)
        return Decision("calls", calls=((name, arguments),))
    try:
        chosen = script.next_turn(state, progress.position)
    except (ValueError, TypeError) as exc:  # a callable script's own mistake
        return _failure(f"The script '{script.name}' raised: {exc}")
    if chosen is None:
        return _failure(
            f"The script '{script.name}' has no turn left after {state.turn} model turns."
        )
    turn, progress.position = chosen
    try:
        if turn.fail is not None:
            return Decision("fail", code=turn.fail[0], text=render_text(turn.fail[1], state))
        text = "" if turn.say is None else str(render_text(turn.say, state))
        if turn.incomplete is not None:
            return Decision("incomplete", text=text, reason=turn.incomplete)
        if not turn.calls:
            return Decision("say", text=text)
        calls = [(call.name, _arguments(call.arguments, state)) for call in turn.calls]
    except TemplateError as exc:
        return _failure(f"The script '{script.name}' could not fill turn {state.turn}: {exc}")
    undeclared = [name for name, _ in calls if declared is not None and name not in declared]
    if undeclared:
        return _failure(
            f"The script '{script.name}' called {undeclared[0]}, which is not among the "
            f"declared function tools {list(declared or ())}."
        )
    if not parallel and len(calls) > 1:
        progress.held = [list(call) for call in calls[1:]]
        calls = calls[:1]
    return Decision("calls", calls=tuple(calls))


def script_name(
    metadata: Sequence[Mapping[str, Any] | None], models: Sequence[Any], default: str
) -> str:
    """The script a conversation follows: the first ``metadata["script"]`` given, else the
    first model named ``scripted:<name>``, else ``default``."""
    for candidate in metadata:
        name = (candidate or {}).get("script")
        if isinstance(name, str) and name:
            return name
    for model in models:
        if isinstance(model, str) and model.startswith(SCRIPTED_PREFIX):
            return model[len(SCRIPTED_PREFIX) :]
    return default


def _arguments(arguments: Any, state: ConversationState) -> str:
    if isinstance(arguments, str):
        return str(render_text(arguments, state))
    return json.dumps(render(arguments, state), ensure_ascii=False)


def _failure(message: str) -> Decision:
    return Decision("fail", code="server_error", text=message)
