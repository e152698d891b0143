"""Turn a bundled function definition into the tool shape each OpenAI API accepts (pure).

- Assistants and Chat Completions: ``{"type": "function", "function": {...}}``.
- Responses: the flat ``{"type": "function", "name": ..., ...}``.

``strict=True`` keeps the bundled strict form and restates ``minLength``/``maxLength`` in
the description (OpenAI's strict grammar rejects them; the dispatcher still enforces
them). ``strict=False`` exports the relaxed form: optional properties leave ``required``
and lose their ``null``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

from mm_assistants.tools.strict import VALIDATION_ONLY_KEYWORDS, admits_null

ToolFormat = Literal["assistants", "chat", "responses"]
FORMATS: tuple[ToolFormat, ...] = ("assistants", "chat", "responses")
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_TOOLS = 128


def export_definition(
    definition: Mapping[str, Any],
    *,
    format: ToolFormat,
    strict: bool = True,
    hide: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """One tool in ``format``; ``hide`` names top-level properties to leave out."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    name = str(definition["name"])
    if not NAME_PATTERN.match(name):
        raise ValueError(f"tool name {name!r} does not match {NAME_PATTERN.pattern}")
    parameters = copy.deepcopy(dict(definition["parameters"]))
    for key in hide:
        parameters["properties"].pop(key, None)
        parameters["required"] = [item for item in parameters["required"] if item != key]
    parameters = _strict_form(parameters) if strict else _relaxed_form(parameters)
    function = {
        "name": name,
        "description": definition["description"],
        "parameters": parameters,
        "strict": strict,
    }
    if format == "responses":
        return {"type": "function", **function}
    return {"type": "function", "function": function}


def _strict_form(schema: dict[str, Any]) -> dict[str, Any]:
    limits = [
        f"{keyword} {schema.pop(keyword)}"
        for keyword in VALIDATION_ONLY_KEYWORDS
        if keyword in schema
    ]
    if limits:
        note = " ".join(_limit_sentence(limit) for limit in limits)
        schema["description"] = f"{schema.get('description', '').rstrip()} {note}".strip()
    _map_children(schema, _strict_form)
    return schema


def _limit_sentence(limit: str) -> str:
    keyword, value = limit.split(" ")
    word = "At most" if keyword == "maxLength" else "At least"
    return f"{word} {value} characters."


def _relaxed_form(schema: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        if len(options) == 1:  # an optional object: the object itself, made relaxed below
            del schema["anyOf"]
            schema = {**options[0], **schema}
        else:
            schema["anyOf"] = options
    properties = schema.get("properties")
    if isinstance(properties, dict):
        schema["required"] = [key for key in schema["required"] if not admits_null(properties[key])]
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind:
        rest = [item for item in kind if item != "null"]
        schema["type"] = rest[0] if len(rest) == 1 else rest
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    _map_children(schema, _relaxed_form)
    return schema


def _map_children(
    schema: dict[str, Any], transform: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    for key, child in list(schema.get("properties", {}).items()):
        schema["properties"][key] = transform(child)
    if isinstance(schema.get("items"), dict):
        schema["items"] = transform(schema["items"])
    if "anyOf" in schema:
        schema["anyOf"] = [transform(option) for option in schema["anyOf"]]
