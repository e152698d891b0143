"""A fast yes/no schema check for tool arguments, compiled with ``fastjsonschema``.

``jsonschema`` walks the schema for every call; ``fastjsonschema`` turns it into plain
Python once. The compiled check only ever says "valid" when the reference validator
would: formats are decided by the reference validator's own format checker, and anything
unexpected (an exception of any kind) counts as "not sure", so the caller asks the
reference validator, which also lists what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator


def quick_checker(
    schema: Mapping[str, Any], reference: Draft202012Validator
) -> Callable[[Any], bool]:
    """``check(arguments) -> bool`` for ``schema``; True only when it is surely valid."""
    checker = reference.format_checker
    formats: dict[str, Callable[[Any], bool]] = {}
    for name in _formats(schema):
        if checker is None:
            formats[name] = _anything
        else:
            formats[name] = _conforms(checker, name)
    compiled = fastjsonschema.compile(dict(schema), formats=formats, use_default=False)

    def check(arguments: Any) -> bool:
        try:
            compiled(arguments)
        except Exception:  # noqa: BLE001 -- invalid, or anything the compiled code did not expect
            return False
        return True

    return check


def _conforms(checker: Any, name: str) -> Callable[[Any], bool]:
    def conforms(value: Any) -> bool:
        return bool(checker.conforms(value, name))

    return conforms


def _anything(value: Any) -> bool:
    return True


def _formats(node: Any) -> set[str]:
    """Every ``format`` named anywhere in ``node``."""
    found: set[str] = set()
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "format" and isinstance(value, str):
                found.add(value)
            else:
                found |= _formats(value)
    elif isinstance(node, list):
        for item in node:
            found |= _formats(item)
    return found
