"""The scripts' tiny template syntax: ``{{ reference }}`` inside strings.

References:

- ``outputs.<tool>.<path>``: the newest output of ``<tool>`` in this conversation, parsed
  as JSON, followed along a dot path of object keys and list indexes, e.g.
  ``{{outputs.check_inbox.emails.0.id}}``. ``outputs.<tool>`` alone is the whole output.
- ``last_user_message`` and ``last_tool_output``: those texts.

A string that is exactly one reference becomes the referenced value with its JSON type (an
id stays a string, a limit stays a number, an object stays an object); a reference inside
longer text is inserted as text (JSON for non-strings). A reference that does not resolve
raises `TemplateError`, which fails the run loudly instead of sending a wrong argument.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mm_assistants.sandbox.openai_api.state import ConversationState

_REFERENCE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
_MAX_DEPTH = 32  # arguments are small; deeper nesting is a script mistake


class TemplateError(ValueError):
    """A ``{{ reference }}`` that does not resolve in this conversation."""


def render(value: Any, state: ConversationState, depth: int = 0) -> Any:
    """``value`` with every reference in its strings resolved (dicts and lists walked)."""
    if depth > _MAX_DEPTH:
        raise TemplateError("arguments nest too deeply")
    if isinstance(value, str):
        return render_text(value, state, keep_type=True)
    if isinstance(value, dict):
        return {key: render(item, state, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, state, depth + 1) for item in value]
    return value


def render_text(text: str, state: ConversationState, *, keep_type: bool = False) -> Any:
    """``text`` with its references resolved; with ``keep_type``, a text that is exactly
    one reference becomes the referenced value itself."""
    whole = _REFERENCE.fullmatch(text.strip())
    if keep_type and whole is not None:
        return resolve(whole.group(1), state)

    def insert(match: re.Match[str]) -> str:
        found = resolve(match.group(1), state)
        return found if isinstance(found, str) else json.dumps(found)

    return _REFERENCE.sub(insert, text)


def resolve(reference: str, state: ConversationState) -> Any:
    """The value ``reference`` names (see the module docstring)."""
    parts = reference.split(".")
    if parts == ["last_user_message"]:
        return _present(state.last_user_message, reference, "there is no user message")
    if parts == ["last_tool_output"]:
        return _present(state.last_tool_output, reference, "there is no tool output yet")
    if parts[0] != "outputs" or len(parts) < 2:
        raise TemplateError(
            f"{{{{{reference}}}}}: unknown reference (use outputs.<tool>.<path>, "
            "last_user_message or last_tool_output)"
        )
    tool, path = parts[1], parts[2:]
    if not state.called(tool):
        raise TemplateError(f"{{{{{reference}}}}}: {tool} has no output yet")
    node = state.output(tool)
    for index, key in enumerate(path):
        node = _step(node, key)
        if node is _MISSING:
            where = ".".join(path[: index + 1])
            raise TemplateError(f"{{{{{reference}}}}}: the output of {tool} has no '{where}'")
    return node


_MISSING = object()


def _step(node: Any, key: str) -> Any:
    if isinstance(node, dict):
        return node.get(key, _MISSING)
    if isinstance(node, list) and re.fullmatch(r"-?\d+", key):
        index = int(key)
        return node[index] if -len(node) <= index < len(node) else _MISSING
    return _MISSING


def _present(value: str | None, reference: str, why: str) -> str:
    if value is None:
        raise TemplateError(f"{{{{{reference}}}}}: {why}")
    return value
