"""OpenAI strict-mode rules for a tool's parameters (pure).

Strict mode (structured outputs) accepts a subset of JSON Schema: every object closes
itself with ``additionalProperties: false`` and lists every property in ``required``; an
optional argument is expressed by admitting ``null``. The bundled schemas follow these
rules as stored, with one exception: ``minLength``/``maxLength`` express limits the
MultiMail API enforces, which the dispatcher checks but OpenAI's strict grammar rejects;
exports move them into the description (see `mm_assistants.tools.formats`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Keywords a bundled parameter schema may use.
ALLOWED_KEYWORDS = frozenset(
    {
        "type",
        "description",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "anyOf",
        "pattern",
        "format",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
    }
)
#: Keywords kept for validation but removed from strict exports.
VALIDATION_ONLY_KEYWORDS = ("minLength", "maxLength")
ALLOWED_FORMATS = frozenset({"email", "date-time", "date", "time", "duration", "uuid"})
MAX_DEPTH = 10


def admits_null(schema: Mapping[str, Any]) -> bool:
    """True when ``schema`` accepts ``null``: the bundled form's mark of an optional argument."""
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(admits_null(option) for option in schema.get("anyOf", ()))


def accepting_form(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` that also accepts optional arguments left out.

    Strict-mode models send every property (null when unused); relaxed-mode models leave
    optional ones out. The dispatcher validates with this form so both are accepted, while
    every constraint on a value that is present still applies.
    """
    result = dict(schema)
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        result["properties"] = {key: accepting_form(child) for key, child in properties.items()}
        result["required"] = [
            key for key in schema.get("required", []) if not admits_null(properties[key])
        ]
    if isinstance(schema.get("items"), Mapping):
        result["items"] = accepting_form(schema["items"])
    if "anyOf" in schema:
        result["anyOf"] = [accepting_form(option) for option in schema["anyOf"]]
    return result


def strict_problems(schema: Mapping[str, Any], where: str = "parameters") -> list[str]:
    """Every way ``schema`` breaks the strict-mode rules, as ``"<path>: <rule>"`` lines."""
    problems: list[str] = []
    if schema.get("type") != "object":
        problems.append(f"{where}: the root must be an object schema")
    _walk(schema, where, 1, problems)
    return problems


def _walk(schema: Mapping[str, Any], where: str, depth: int, out: list[str]) -> None:
    if depth > MAX_DEPTH:
        out.append(f"{where}: nested deeper than {MAX_DEPTH} levels")
        return
    for keyword in schema:
        if keyword not in ALLOWED_KEYWORDS:
            out.append(f"{where}: keyword {keyword!r} is not allowed in strict mode")
    fmt = schema.get("format")
    if fmt is not None and fmt not in ALLOWED_FORMATS:
        out.append(f"{where}: format {fmt!r} is not supported in strict mode")
    if "properties" in schema or schema.get("type") == "object":
        _check_object(schema, where, out)
        for key, child in schema.get("properties", {}).items():
            if "description" not in child:
                out.append(f"{where}.{key}: every property needs a description")
            _walk(child, f"{where}.{key}", depth + 1, out)
    items = schema.get("items")
    if isinstance(items, Mapping):
        _walk(items, f"{where}[]", depth + 1, out)
    for index, option in enumerate(schema.get("anyOf", ())):
        _walk(option, f"{where}|{index}", depth, out)


def _check_object(schema: Mapping[str, Any], where: str, out: list[str]) -> None:
    if schema.get("additionalProperties") is not False:
        out.append(f"{where}: objects must set additionalProperties to false")
    properties = list(schema.get("properties", {}))
    required = list(schema.get("required", []))
    if sorted(required) != sorted(properties):
        missing = sorted(set(properties) - set(required))
        extra = sorted(set(required) - set(properties))
        detail = "; ".join(
            part
            for part in (
                f"not required: {', '.join(missing)}" if missing else "",
                f"required but undefined: {', '.join(extra)}" if extra else "",
            )
            if part
        )
        out.append(f"{where}: every property must be listed in required ({detail})")
