"""Scripts for the scripted model: plain data, or a Python callable.

A data script is a list of turns (or ``{"turns": [...]}``). Each turn is one of::

    {"call": "check_inbox", "arguments": {"direction": "inbound", "limit": 5}}
    {"calls": [{"name": "read_email", "arguments": {...}}, {"name": ..., ...}]}  # parallel
    {"say": "Done: {{outputs.reply_email.status}}"}                       # final message
    {"fail": {"code": "server_error", "message": "boom"}}                 # run/response fails
    {"incomplete": "max_completion_tokens", "say": "partial text"}        # stops short

``arguments`` is an object or a JSON string; strings may hold ``{{ references }}`` (see
`mm_assistants.sandbox.openai_api.templates`).

Turns are taken in order, one per model turn of a conversation. A turn may carry
``"when"`` conditions; consecutive turns with ``when`` and the plain turn right after them
form one *slot* of alternatives, and the first whose conditions all hold is taken (the plain
one is the fallback). A slot where nothing holds is skipped. Conditions, each a string or
a list of strings (any of them), matched case-insensitively:

- ``last_user_message_contains``, ``last_tool_output_contains``: substring tests;
- ``last_tool_name``: the function whose output is the newest equals one of these.

Where a conversation stands: an Assistants run keeps its own progress; a Responses
conversation continues the response named by ``previous_response_id``. Without it (the
whole history sent as input items, the Agents SDK's default), the newest item in the input
that the emulator made (a ``function_call`` by ``call_id``, an assistant message by ``id``)
names the response continued; model turns after it, or in the whole input when no item is
the emulator's (foreign ids, ``store: false``), move the script on by one slot each: a run
of consecutive ``function_call`` items (one tool round) or an assistant message. Details in
`mm_assistants.sandbox.openai_api.history`. Templates see every output in the input.

A callable script is ``(ConversationState) -> turn`` (a dict as above or a `Turn`), or
``None`` when it has nothing more to say.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mm_assistants.sandbox.openai_api.state import ConversationState

_CONDITIONS = ("last_user_message_contains", "last_tool_output_contains", "last_tool_name")
_TURN_KEYS = frozenset({"call", "arguments", "calls", "say", "fail", "incomplete", "when"})


class ScriptError(ValueError):
    """A script that cannot be understood."""


@dataclass(frozen=True)
class ScriptedCall:
    """One function call: the name and the arguments (an object or a JSON string)."""

    name: str
    arguments: Any


@dataclass(frozen=True)
class Turn:
    """One model turn: calls, a final message, a failure or an incomplete stop."""

    calls: tuple[ScriptedCall, ...] = ()
    say: str | None = None
    fail: tuple[str, str] | None = None  # (last_error.code, message)
    incomplete: str | None = None  # incomplete_details.reason
    when: Mapping[str, tuple[str, ...]] | None = None

    def matches(self, state: ConversationState) -> bool:
        """Whether every ``when`` condition holds in ``state`` (no conditions: always)."""
        texts = {
            "last_user_message_contains": state.last_user_message,
            "last_tool_output_contains": state.last_tool_output,
        }
        for key, wanted in (self.when or {}).items():
            if key == "last_tool_name":
                if (state.last_tool_name or "").lower() not in wanted:
                    return False
            elif not any(needle in (texts[key] or "").lower() for needle in wanted):
                return False
        return True


Callback = Callable[[ConversationState], Turn | Mapping[str, Any] | None]


class Script:
    """A named script; `next_turn` picks the turn for a conversation."""

    def __init__(self, name: str, slots: Sequence[Sequence[Turn]] = (), callback: Any = None):
        self.name = name
        self.slots = tuple(tuple(slot) for slot in slots)
        self.callback: Callback | None = callback

    def __repr__(self) -> str:
        kind = "callable" if self.callback is not None else f"{len(self.slots)} slots"
        return f"Script({self.name!r}, {kind})"

    def next_turn(self, state: ConversationState, position: int) -> tuple[Turn, int] | None:
        """The turn to take and the position after it, or ``None`` when the script is over.
        ``position`` is the conversation's progress through the slots (callables ignore it).
        """
        if self.callback is not None:
            answer = self.callback(state)
            return None if answer is None else (parse_turn(answer), position + 1)
        for index in range(position, len(self.slots)):
            for turn in self.slots[index]:
                if turn.matches(state):
                    return turn, index + 1
        return None


ScriptSource = Sequence[Any] | Mapping[str, Any] | Callback | Script
"""What a script can be made from: a list of turns, ``{"turns": [...]}``, a callable."""


def load_script(name: str, source: ScriptSource) -> Script:
    """A `Script` from data (a list of turns, or ``{"turns": [...]}``) or a callable."""
    if isinstance(source, Script):
        return source
    if callable(source):
        return Script(name, callback=source)
    turns: Any = source.get("turns") if isinstance(source, Mapping) else source
    if isinstance(turns, (str, bytes)) or not isinstance(turns, Sequence):
        raise ScriptError(f"script {name!r}: expected a list of turns or {{'turns': [...]}}")
    parsed = [
        parse_turn(turn, f"script {name!r}, turn {index}") for index, turn in enumerate(turns)
    ]
    return Script(name, slots=_slots(parsed))


def _slots(turns: list[Turn]) -> list[list[Turn]]:
    slots: list[list[Turn]] = []
    pending: list[Turn] = []
    for turn in turns:
        pending.append(turn)
        if turn.when is None:  # a plain turn closes the slot of alternatives before it
            slots.append(pending)
            pending = []
    if pending:
        slots.append(pending)
    return slots


def parse_turn(data: Any, where: str = "turn") -> Turn:
    """A `Turn` from its data form (see the module docstring)."""
    if isinstance(data, Turn):
        return data
    if not isinstance(data, Mapping):
        raise ScriptError(f"{where}: a turn is an object, not {type(data).__name__}")
    unknown = set(data) - _TURN_KEYS
    if unknown:
        raise ScriptError(f"{where}: unknown keys {sorted(unknown)}")
    calls = _calls(data, where)
    fail = _fail(data.get("fail"), where)
    incomplete = data.get("incomplete")
    say = data.get("say")
    if say is not None and not isinstance(say, str):
        raise ScriptError(f"{where}: 'say' must be a string")
    if incomplete is not None and not isinstance(incomplete, str):
        raise ScriptError(f"{where}: 'incomplete' must be a reason string")
    if incomplete is None and sum(x is not None for x in (say, fail)) + bool(calls) != 1:
        raise ScriptError(f"{where}: give exactly one of call/calls, say, fail or incomplete")
    if incomplete is not None and (calls or fail):
        raise ScriptError(f"{where}: 'incomplete' goes with an optional 'say' only")
    return Turn(calls, say, fail, incomplete, _when(data.get("when"), where))


def _calls(data: Mapping[str, Any], where: str) -> tuple[ScriptedCall, ...]:
    if "call" in data and "calls" in data:
        raise ScriptError(f"{where}: use 'call' or 'calls', not both")
    if "call" in data:
        items: Any = [{"name": data["call"], "arguments": data.get("arguments", {})}]
    else:
        items = data.get("calls", [])
        if "arguments" in data:
            raise ScriptError(f"{where}: 'arguments' goes with 'call'")
    if not isinstance(items, list) or ("calls" in data and not items):
        raise ScriptError(f"{where}: 'calls' is a non-empty list of {{name, arguments}}")
    calls = []
    for item in items:
        name = item.get("name") if isinstance(item, Mapping) else None
        arguments = item.get("arguments", {}) if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ScriptError(f"{where}: every call needs a function name")
        if isinstance(arguments, str):
            _check_json(arguments, where)
        elif not isinstance(arguments, Mapping):
            raise ScriptError(f"{where}: arguments of {name} must be an object or JSON text")
        calls.append(ScriptedCall(name, arguments))
    return tuple(calls)


def _check_json(text: str, where: str) -> None:
    if "{{" in text:  # references are resolved later; the text may not parse before that
        return
    try:
        json.loads(text)
    except ValueError as exc:
        raise ScriptError(f"{where}: arguments are not valid JSON ({exc})") from exc


def _fail(value: Any, where: str) -> tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return ("server_error", value)
    if isinstance(value, Mapping) and isinstance(value.get("message", ""), str):
        return (str(value.get("code", "server_error")), str(value.get("message", "")))
    raise ScriptError(f"{where}: 'fail' is a message or {{code, message}}")


def _when(value: Any, where: str) -> Mapping[str, tuple[str, ...]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        raise ScriptError(f"{where}: 'when' is an object of conditions")
    conditions: dict[str, tuple[str, ...]] = {}
    for key, wanted in value.items():
        if key not in _CONDITIONS:
            raise ScriptError(f"{where}: unknown condition {key!r}; known: {list(_CONDITIONS)}")
        options = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(options, list) or not all(isinstance(x, str) for x in options):
            raise ScriptError(f"{where}: condition {key!r} takes a string or a list of strings")
        conditions[key] = tuple(option.lower() for option in options)
    return conditions
