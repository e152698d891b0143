"""One parameter of a tool, as a model sees it: read from a schema and compared (pure).

`parameters_of` reads every parameter of a tool's ``parameters`` schema by path (nested
ones too: ``filter.sender`` is a property of the object parameter ``filter``, ``tags[].key``
one of the objects in the array ``tags``) into `Parameter` values; a `ParameterChange`
compares two of them and says what differs in sentences and JSON. A parameter is required
when the model must give a value: listed in ``required`` and not admitting null (the
strict-mode mark of an optional argument). `mm_assistants.tools.diff` builds on this for
whole tools and schema sets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mm_assistants.tools.strict import admits_null

#: The schema keywords compared as a parameter's limits (an array's item limits as ``items.*``).
LIMIT_KEYS = (
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "pattern",
    "format",
)

#: What happened to a parameter (or a tool) between the two sets.
Change = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Parameter:
    """One parameter as a model sees it: its type, whether it must be given, its values."""

    type: str
    required: bool
    enum: tuple[Any, ...] | None = None
    #: ``(keyword, value)`` pairs in keyword order, e.g. ``(("maxLength", 200),)``.
    limits: tuple[tuple[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: ``type``, ``required``, ``enum`` (or null) and ``limits`` by name."""
        return {
            "type": self.type,
            "required": self.required,
            "enum": None if self.enum is None else list(self.enum),
            "limits": dict(self.limits),
        }


@dataclass(frozen=True)
class ParameterChange:
    """A parameter added, removed or changed (``old``/``new`` is None for added/removed)."""

    tool: str
    name: str
    old: Parameter | None
    new: Parameter | None

    @property
    def change(self) -> Change:
        """``added``, ``removed`` or ``changed``."""
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"

    @property
    def enum_added(self) -> tuple[Any, ...]:
        """Values the parameter newly accepts (empty unless both sides list values)."""
        return _missing_from(_values(self.new), _values(self.old))

    @property
    def enum_removed(self) -> tuple[Any, ...]:
        """Values the parameter no longer accepts (empty unless both sides list values)."""
        return _missing_from(_values(self.old), _values(self.new))

    @property
    def limits(self) -> tuple[tuple[str, Any, Any], ...]:
        """``(keyword, old, new)`` for each limit that differs; None where unset."""
        old = dict(self.old.limits if self.old is not None else ())
        new = dict(self.new.limits if self.new is not None else ())
        return tuple(
            (key, old.get(key), new.get(key))
            for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: the change, and the old and new facts that differ."""
        data: dict[str, Any] = {"name": self.name, "change": self.change}
        old, new = self.old, self.new
        if new is None:
            return data | (old.to_json() if old is not None else {})
        if old is None:
            return data | new.to_json()
        if old.type != new.type:
            data["type"] = {"old": old.type, "new": new.type}
        if old.required != new.required:
            data["required"] = {"old": old.required, "new": new.required}
        if self.enum_added:
            data["enum_added"] = list(self.enum_added)
        if self.enum_removed:
            data["enum_removed"] = list(self.enum_removed)
        if old.enum is None and new.enum is not None:
            data["enum"] = {"old": None, "new": list(new.enum)}
        if old.enum is not None and new.enum is None:
            data["enum"] = {"old": list(old.enum), "new": None}
        if self.limits:
            data["limits"] = {key: {"old": was, "new": now} for key, was, now in self.limits}
        return data

    def sentences(self) -> list[str]:
        """This change in plain sentences, each naming the tool and the parameter."""
        where = f"{self.tool}: parameter {self.name}"
        if self.new is None:
            return [f"{where} removed"]
        if self.old is None:
            need = "required" if self.new.required else "optional"
            return [f"{self.tool}: new {need} parameter {self.name} ({self.new.type})"]
        lines = []
        if self.old.type != self.new.type:
            lines.append(f"{where} type changed from {self.old.type} to {self.new.type}")
        if self.old.required != self.new.required:
            now, was = ("required", "optional") if self.new.required else ("optional", "required")
            lines.append(f"{where} is now {now} (was {was})")
        if self.enum_added:
            lines.append(f"{where} accepts new values {_listed(self.enum_added)}")
        if self.enum_removed:
            lines.append(f"{where} no longer accepts {_listed(self.enum_removed)}")
        if self.old.enum is None and self.new.enum is not None:
            lines.append(f"{where} is now limited to {_listed(self.new.enum)}")
        if self.old.enum is not None and self.new.enum is None:
            lines.append(f"{where} is no longer limited to a list of values")
        for key, old, new in self.limits:
            lines.append(f"{where} {key} {_limit_change(key, old, new)}")
        return lines


def parameters_of(schema: Mapping[str, Any]) -> dict[str, Parameter]:
    """Every parameter of a tool's ``parameters`` schema by path, nested ones included."""
    found: dict[str, Parameter] = {}
    _collect(schema, "", found)
    return found


def _collect(schema: Mapping[str, Any], prefix: str, found: dict[str, Parameter]) -> None:
    required = set(schema.get("required", ()))
    for name, child in schema.get("properties", {}).items():
        path = prefix + name
        found[path] = _parameter(child, required=name in required)
        for branch in _branches(child):
            _collect(branch, f"{path}.", found)
            items = branch.get("items")
            if isinstance(items, Mapping):
                _collect(items, f"{path}[].", found)


def _branches(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    # a nullable parameter is either a type list with "null" or anyOf [<value>, null]
    return [schema, *schema.get("anyOf", ())]


def _parameter(schema: Mapping[str, Any], *, required: bool) -> Parameter:
    types: set[str] = set()
    enum: tuple[Any, ...] | None = None
    limits: dict[str, Any] = {}
    for branch in _branches(schema):
        types.update(_types(branch))
        items = branch.get("items")
        if isinstance(items, Mapping):
            limits.update((f"items.{key}", items[key]) for key in LIMIT_KEYS if key in items)
            enum = _enum(items) if enum is None else enum
        limits.update((key, branch[key]) for key in LIMIT_KEYS if key in branch)
        enum = _enum(branch) if enum is None else enum
    return Parameter(
        type=" or ".join(sorted(types)) or "any",
        required=required and not admits_null(schema),
        enum=enum,
        limits=tuple(sorted(limits.items())),
    )


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else list(kind or ())
    items = schema.get("items")
    item_types = " or ".join(sorted(_types(items))) if isinstance(items, Mapping) else ""
    return [
        f"array of {item_types}" if name == "array" and item_types else name
        for name in kinds
        if name != "null"
    ]


def _enum(schema: Mapping[str, Any]) -> tuple[Any, ...] | None:
    if "enum" not in schema:
        return None
    return tuple(value for value in schema["enum"] if value is not None)


def _values(parameter: Parameter | None) -> tuple[Any, ...]:
    return () if parameter is None or parameter.enum is None else parameter.enum


def _missing_from(values: tuple[Any, ...], other: tuple[Any, ...]) -> tuple[Any, ...]:
    # enum changes only mean something when both sides restrict the values
    if not values or not other:
        return ()
    return tuple(value for value in values if value not in other)


def _listed(values: Iterable[Any]) -> str:
    return ", ".join(word(value) for value in values)


def _limit_change(key: str, old: Any, new: Any) -> str:
    if key.endswith("pattern"):
        # a regular expression reads badly in a sentence; the JSON form carries it whole
        return "set" if old is None else "removed" if new is None else "changed"
    if old is None:
        return f"set to {word(new)} (was unset)"
    if new is None:
        return f"removed (was {word(old)})"
    return f"changed from {word(old)} to {word(new)}"


def word(value: Any) -> str:
    """A value as a sentence spells it: JSON's ``true``/``false``, ``unset`` for None.

    JSON's spelling, so a value reads the same in sentences and in ``--json``.
    """
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
