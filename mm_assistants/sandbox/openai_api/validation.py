"""Request checks shared by the Assistants and Responses routes, with OpenAI's texts.

Only the checks an application can trip over are made: function tool names and count,
metadata limits, and the types of the fields the emulator reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mm_assistants.sandbox.openai_api.errors import bad_request, invalid_type, missing

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_TOOLS = 128


def tools(value: Any, param: str = "tools", *, flat: bool = False) -> list[dict[str, Any]]:
    """The tool list; function names checked. ``flat`` is the Responses form
    (``{"type": "function", "name": ...}``) instead of the Assistants/Chat one."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type(param, "an array")
    if len(value) > MAX_TOOLS:
        raise bad_request(
            f"Invalid '{param}': array too long. Expected an array with maximum length "
            f"{MAX_TOOLS}, but got an array with length {len(value)} instead.",
            param=param,
            code="array_above_max_length",
        )
    for index, tool in enumerate(value):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise missing(f"{param}[{index}].type")
        if tool["type"] != "function":
            continue
        spec = tool if flat else tool.get("function")
        where = f"{param}[{index}].name" if flat else f"{param}[{index}].function.name"
        name = spec.get("name") if isinstance(spec, dict) else None
        if name is None:
            raise missing(where)
        if not isinstance(name, str) or not _NAME.match(name):
            raise bad_request(
                f"Invalid '{where}': string does not match pattern. Expected a string that "
                "matches the pattern '^[a-zA-Z0-9_-]+$'.",
                param=where,
                code="invalid_value",
            )
    return list(value)


def function_names(tool_list: list[dict[str, Any]], *, flat: bool = False) -> tuple[str, ...]:
    """The names of the function tools in ``tool_list``."""
    names = []
    for tool in tool_list:
        if tool.get("type") == "function":
            spec = tool if flat else tool.get("function", {})
            names.append(str(spec.get("name")))
    return tuple(names)


def metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """Metadata: at most 16 string pairs, keys up to 64 and values up to 512 characters."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise invalid_type(param, "an object")
    if len(value) > 16:
        raise bad_request(
            f"Invalid '{param}': too many properties. Expected an object with at most 16 "
            f"properties, but got an object with {len(value)} properties instead.",
            param=param,
            code="object_above_max_properties",
        )
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid_type(f"{param}.{key}", "a string")
        if len(key) > 64 or len(item) > 512:
            raise bad_request(
                f"Invalid '{param}.{key}': keys are at most 64 and values at most 512 "
                "characters long.",
                param=f"{param}.{key}",
                code="string_above_max_length",
            )
    return dict(value)


def optional_bool(body: Mapping[str, Any], key: str, default: bool) -> bool:
    """A boolean field, ``default`` when absent or null."""
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_type(key, "a boolean")
    return value


def required_str(body: Mapping[str, Any], key: str) -> str:
    """A string field that must be present."""
    value = body.get(key)
    if value is None:
        raise missing(key)
    if not isinstance(value, str):
        raise invalid_type(key, "a string")
    return value
