"""What changes for a model between two schema sets: tools added, removed and changed (pure).

`diff_registries` compares two loaded registries; `diff_tools` compares two mappings of
`ToolFacts` (what `tool_facts` reads from a definition and its endpoint), so a test or a
draft schema set needs no bundled files. The result, `SchemaDiff`, renders as plain
sentences (`SchemaDiff.describe`) and as JSON-ready data (`SchemaDiff.to_json`), both in a
stable order (tools and parameters by name).

>>> print(diff_registries(load_registry("v1"), load_registry("v2")).describe())  # doctest: +SKIP
schemas v1 -> v2: 8 tools added, 0 removed, 43 changed
added tool report_spam (Report spam message): POST /v1/emails/{email_id}/report-spam, scope send
...

Parameters are compared by path: ``filter.sender`` is a property of the object parameter
``filter``, ``tags[].key`` one of the objects in the array ``tags``. A parameter is
required when the model must give a value: listed in ``required`` and not admitting null
(the strict-mode mark of an optional argument).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mm_assistants.tools.endpoints import Endpoint
from mm_assistants.tools.registry import ToolRegistry
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
#: The endpoint fields compared; the request's body and query follow from the parameters.
ENDPOINT_FIELDS = ("method", "path", "scope", "effect", "idempotent")
#: The MCP annotations compared.
ANNOTATION_KEYS = ("readOnlyHint", "destructiveHint", "idempotentHint")

Change = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class ToolFacts:
    """What the comparison reads of one tool: its definition's parts and its endpoint."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    endpoint: Endpoint
    title: str | None = None
    annotations: Mapping[str, Any] | None = None


def tool_facts(definition: Mapping[str, Any], endpoint: Endpoint) -> ToolFacts:
    """The `ToolFacts` of a bundled definition (``name``, ``description``, ``parameters``,
    optional ``title`` and ``annotations``) and its endpoint."""
    return ToolFacts(
        name=str(definition["name"]),
        description=str(definition["description"]),
        parameters=definition["parameters"],
        endpoint=endpoint,
        title=definition.get("title"),
        annotations=definition.get("annotations"),
    )


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


@dataclass(frozen=True)
class ToolSummary:
    """A tool added or removed: its name, title and where it goes."""

    name: str
    title: str | None
    method: str
    path: str
    scope: str
    effect: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, keys in a fixed order."""
        return {
            "name": self.name,
            "title": self.title,
            "method": self.method,
            "path": self.path,
            "scope": self.scope,
            "effect": self.effect,
        }

    def route(self) -> str:
        """``METHOD /path, scope S``: the request and the API key scope it needs."""
        return f"{self.method} {self.path}, scope {self.scope}"

    def named(self) -> str:
        """The name, with the title in parentheses when there is one."""
        return self.name if self.title is None else f"{self.name} ({self.title})"


@dataclass(frozen=True)
class ToolChange:
    """Everything that differs about one tool present in both sets."""

    name: str
    parameters: tuple[ParameterChange, ...] = ()
    description_changed: bool = False
    #: ``(field, old, new)`` for each differing field of ENDPOINT_FIELDS.
    endpoint: tuple[tuple[str, Any, Any], ...] = ()
    title: tuple[str | None, str | None] | None = None
    #: ``(annotation, old, new)`` for each differing annotation; None where unset.
    annotations: tuple[tuple[str, Any, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: only the parts that changed."""
        data: dict[str, Any] = {"name": self.name}
        if self.parameters:
            data["parameters"] = [change.to_json() for change in self.parameters]
        if self.description_changed:
            data["description_changed"] = True
        if self.endpoint:
            data["endpoint"] = {key: {"old": old, "new": new} for key, old, new in self.endpoint}
        if self.title is not None:
            data["title"] = {"old": self.title[0], "new": self.title[1]}
        if self.annotations:
            data["annotations"] = {
                key: {"old": old, "new": new} for key, old, new in self.annotations
            }
        return data

    def sentences(self, *, labels: bool = True) -> list[str]:
        """The change in plain sentences; ``labels=False`` leaves out titles and annotations
        that were simply added (a set that had none)."""
        lines = [
            f"{self.name}: {key} changed from {_word(old)} to {_word(new)}"
            for key, old, new in self.endpoint
        ]
        for change in self.parameters:
            lines.extend(change.sentences())
        if self.description_changed:
            lines.append(f"{self.name}: description changed")
        if self.title is not None and (labels or self.title[0] is not None):
            old_title, new_title = self.title
            lines.append(
                f"{self.name}: title changed from {_word(old_title)} to {_word(new_title)}"
            )
        for key, old, new in self.annotations:
            if labels or old is not None:
                lines.append(
                    f"{self.name}: annotation {key} changed from {_word(old)} to {_word(new)}"
                )
        return lines


@dataclass(frozen=True)
class SchemaDiff:
    """The comparison of schema set ``old_version`` with ``new_version``."""

    old_version: str
    new_version: str
    added: tuple[ToolSummary, ...] = ()
    removed: tuple[ToolSummary, ...] = ()
    changed: tuple[ToolChange, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data for ``json.dumps``: tools and parameters in name order."""
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "added": [tool.to_json() for tool in self.added],
            "removed": [tool.to_json() for tool in self.removed],
            "changed": [tool.to_json() for tool in self.changed],
        }

    def describe(self) -> str:
        """Plain sentences, one per line: a summary, then added, removed and changed tools.

        Titles and annotations that a tool simply gained (the old set had none) are counted
        in one closing line rather than repeated for every tool.
        """
        lines = [
            f"schemas {self.old_version} -> {self.new_version}: {len(self.added)} tools added, "
            f"{len(self.removed)} removed, {len(self.changed)} changed"
        ]
        lines += [f"added tool {tool.named()}: {tool.route()}" for tool in self.added]
        lines += [f"removed tool {tool.named()}: was {tool.route()}" for tool in self.removed]
        for tool in self.changed:
            lines.extend(tool.sentences(labels=False))
        titled = sum(1 for tool in self.changed if tool.title is not None and tool.title[0] is None)
        annotated = sum(1 for tool in self.changed if _gained_annotations(tool))
        if titled or annotated:
            lines.append(
                f"{titled} tools gained a title and {annotated} gained MCP annotations "
                "(neither is sent to OpenAI)"
            )
        return "\n".join(lines)


def diff_registries(old: ToolRegistry, new: ToolRegistry) -> SchemaDiff:
    """Compare two registries, e.g. ``diff_registries(load_registry("v1"),
    load_registry("v2"))``."""
    return diff_tools(
        _facts_of(old), _facts_of(new), old_version=old.version, new_version=new.version
    )


def diff_tools(
    old: Mapping[str, ToolFacts],
    new: Mapping[str, ToolFacts],
    *,
    old_version: str,
    new_version: str,
) -> SchemaDiff:
    """Compare two sets of tools (name -> `ToolFacts`)."""
    changed = (_tool_change(old[name], new[name]) for name in sorted(set(old) & set(new)))
    return SchemaDiff(
        old_version=old_version,
        new_version=new_version,
        added=tuple(_summary(new[name]) for name in sorted(set(new) - set(old))),
        removed=tuple(_summary(old[name]) for name in sorted(set(old) - set(new))),
        changed=tuple(change for change in changed if change != ToolChange(change.name)),
    )


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


def _tool_change(old: ToolFacts, new: ToolFacts) -> ToolChange:
    before, after = parameters_of(old.parameters), parameters_of(new.parameters)
    parameters = (
        ParameterChange(new.name, name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
    )
    return ToolChange(
        name=new.name,
        parameters=tuple(change for change in parameters if change.old != change.new),
        description_changed=old.description != new.description,
        endpoint=_differences(
            ENDPOINT_FIELDS,
            {key: getattr(old.endpoint, key) for key in ENDPOINT_FIELDS},
            {key: getattr(new.endpoint, key) for key in ENDPOINT_FIELDS},
        ),
        title=None if old.title == new.title else (old.title, new.title),
        annotations=_differences(ANNOTATION_KEYS, old.annotations or {}, new.annotations or {}),
    )


def _differences(
    keys: Iterable[str], old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[tuple[str, Any, Any], ...]:
    return tuple((key, old.get(key), new.get(key)) for key in keys if old.get(key) != new.get(key))


def _summary(tool: ToolFacts) -> ToolSummary:
    endpoint = tool.endpoint
    return ToolSummary(
        tool.name, tool.title, endpoint.method, endpoint.path, endpoint.scope, endpoint.effect
    )


def _facts_of(registry: ToolRegistry) -> dict[str, ToolFacts]:
    return {name: tool_facts(spec.definition(), spec.endpoint) for name, spec in registry.items()}


def _gained_annotations(tool: ToolChange) -> bool:
    return any(old is None for _, old, _ in tool.annotations)


def _values(parameter: Parameter | None) -> tuple[Any, ...]:
    return () if parameter is None or parameter.enum is None else parameter.enum


def _missing_from(values: tuple[Any, ...], other: tuple[Any, ...]) -> tuple[Any, ...]:
    # enum changes only mean something when both sides restrict the values
    if not values or not other:
        return ()
    return tuple(value for value in values if value not in other)


def _listed(values: Iterable[Any]) -> str:
    return ", ".join(_word(value) for value in values)


def _limit_change(key: str, old: Any, new: Any) -> str:
    if key.endswith("pattern"):
        # a regular expression reads badly in a sentence; the JSON form carries it whole
        return "set" if old is None else "removed" if new is None else "changed"
    if old is None:
        return f"set to {_word(new)} (was unset)"
    if new is None:
        return f"removed (was {_word(old)})"
    return f"changed from {_word(old)} to {_word(new)}"


def _word(value: Any) -> str:
    # JSON's spelling, so true/false/null read the same in sentences and in --json
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
