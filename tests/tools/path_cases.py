"""Every path parameter of every tool, found by binding probes (no hand-kept list).

Each string argument of a tool gets a unique probe value; binding shows which probes land
in the path, and where. Enum arguments are varied one at a time, so a path only one
action reaches (``tag_email``'s delete adds ``/{key}``) is found too. A new tool, or a new
placeholder, joins the cases without anyone editing a table.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote, unquote

from mm_assistants.tools import ToolArgumentError, ToolSpec, load_registry

DEFAULT_MAILBOX = "mbx_default"
_SEND_AT = "2026-12-01T09:00:00Z"


@dataclass(frozen=True)
class PathCase:
    """One placeholder of one tool: valid arguments that reach it, and its template."""

    tool: str
    parameter: str
    arguments: dict[str, Any]
    template: str

    @property
    def id(self) -> str:
        return f"{self.tool}-{self.parameter}"

    def with_value(self, value: Any) -> dict[str, Any]:
        """The case's arguments with ``value`` as its parameter."""
        return {**copy.deepcopy(self.arguments), self.parameter: value}


def probe(name: str) -> str:
    """A value unique to argument ``name`` that is plausible for every kind of path value."""
    return f"p.{name}@example.com"


def example_value(name: str, schema: dict[str, Any], choice: dict[str, Any]) -> Any:
    """A schema-valid, non-null value for property ``name`` (enum values from ``choice``)."""
    if "anyOf" in schema:
        branch = next(b for b in schema["anyOf"] if b.get("type") != "null")
        return example_value(name, branch, choice)
    if "enum" in schema:
        return choice.get(name, next(v for v in schema["enum"] if v is not None))
    kinds = schema.get("type", "string")
    kind = next(k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null")
    if kind == "string":
        pattern = schema.get("pattern", "")
        if pattern.startswith("^https://"):
            return "https://hooks.example.com/mm"
        if pattern.startswith("^\\d{4}") or schema.get("format") == "date-time":
            return _SEND_AT
        return probe(name)
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    if kind == "array":
        item = example_value(name, schema.get("items", {}), choice)
        return [item] * max(schema.get("minItems", 1), 1)
    return example_object(schema, choice)


def example_object(schema: dict[str, Any], choice: dict[str, Any]) -> dict[str, Any]:
    """Every property of an object schema, non-null."""
    properties = schema.get("properties", {})
    return {key: example_value(key, sub, choice) for key, sub in properties.items()}


def _enum_choices(spec: ToolSpec) -> list[dict[str, Any]]:
    choices: list[dict[str, Any]] = [{}]
    for key, sub in spec.parameters["properties"].items():
        for value in sub.get("enum", ()):
            if value is not None:
                choices.append({key: value})
    return choices


def _segments(path: str) -> list[str]:
    return path.split("/")


@cache
def path_cases() -> tuple[PathCase, ...]:
    """Every (tool, placeholder) pair the registry can bind, with arguments reaching it."""
    registry = load_registry()
    found: dict[tuple[str, str], PathCase] = {}
    for name in registry:
        spec = registry[name]
        for choice in _enum_choices(spec):
            arguments = example_object(spec.parameters, choice)
            try:
                request = registry.bind(name, arguments, mailbox_id=DEFAULT_MAILBOX)
            except ToolArgumentError:
                continue  # this enum value needs other arguments; another choice covers it
            template = request.path
            placed: list[str] = []
            for key, value in arguments.items():
                if isinstance(value, str) and quote(value, safe="") in _segments(template):
                    segments = _segments(template)
                    segments[segments.index(quote(value, safe=""))] = "{" + key + "}"
                    template = "/".join(segments)
                    placed.append(key)
            for key in placed:
                case = PathCase(name, key, arguments, template)
                found.setdefault((name, key), case)
    return tuple(sorted(found.values(), key=lambda case: case.id))


def fills_exactly(template: str, path: str, value: str, parameter: str) -> bool:
    """True when ``path`` has ``template``'s segments, with ``value`` as ``parameter``'s."""
    want, got = _segments(template), _segments(path)
    if len(want) != len(got):
        return False
    for expected, actual in zip(want, got, strict=True):
        if expected == "{" + parameter + "}":
            if unquote(actual) != value or actual.strip(".") == "":
                return False
        elif expected.startswith("{"):
            continue  # another placeholder, filled with its own valid probe
        elif expected != actual:
            return False
    return True


#: Hostile path values: dot segments plain, encoded and disguised, separators, controls,
#: whitespace and sheer length. Each must be refused or stay inside its own segment.
HOSTILE_VALUES: tuple[str, ...] = (
    "",
    ".",
    "..",
    "...",
    "./",
    "../",
    "../..",
    "../../v1/account",
    "%2e",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "%2e.",
    "%252e%252e",
    "/",
    "a/b",
    "a/../b",
    "\\",
    "..\\..",
    "a\\..\\b",
    "\uff0e\uff0e",  # fullwidth full stops
    "\u2024",  # one dot leader
    "\u2024\u2024",
    "\u2025",  # two dot leader
    "\u2026",  # ellipsis
    "\ufe52\ufe52",  # small full stops
    "\uff0f",  # fullwidth solidus
    "\x00",
    "em_1\x00",
    "\n",
    "em\r\n1",
    "\t",
    "\x7f",
    "\u200b",  # zero-width space
    " ",
    " .. ",
    "em 1",
    "?x=1",
    "#frag",
    "x" * 201,
    "y" * 10_000,
)
