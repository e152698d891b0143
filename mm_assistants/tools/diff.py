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

Parameters are compared by path (``filter.sender``, ``tags[].key``); reading and comparing
one parameter is `mm_assistants.tools.diff_params`, whose public names this module
re-exports so callers import the whole comparison from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mm_assistants.tools.diff_params import (
    LIMIT_KEYS,
    Change,
    Parameter,
    ParameterChange,
    parameters_of,
    word,
)
from mm_assistants.tools.endpoints import Endpoint
from mm_assistants.tools.registry import ToolRegistry

__all__ = [
    "ANNOTATION_KEYS",
    "ENDPOINT_FIELDS",
    "LIMIT_KEYS",
    "Change",
    "Parameter",
    "ParameterChange",
    "SchemaDiff",
    "ToolChange",
    "ToolFacts",
    "ToolSummary",
    "diff_registries",
    "diff_tools",
    "parameters_of",
    "tool_facts",
]

#: The endpoint fields compared; the request's body and query follow from the parameters.
ENDPOINT_FIELDS = ("method", "path", "scope", "effect", "idempotent")
#: The MCP annotations compared.
ANNOTATION_KEYS = ("readOnlyHint", "destructiveHint", "idempotentHint")


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
            f"{self.name}: {key} changed from {word(old)} to {word(new)}"
            for key, old, new in self.endpoint
        ]
        for change in self.parameters:
            lines.extend(change.sentences())
        if self.description_changed:
            lines.append(f"{self.name}: description changed")
        if self.title is not None and (labels or self.title[0] is not None):
            old_title, new_title = self.title
            lines.append(f"{self.name}: title changed from {word(old_title)} to {word(new_title)}")
        for key, old, new in self.annotations:
            if labels or old is not None:
                lines.append(
                    f"{self.name}: annotation {key} changed from {word(old)} to {word(new)}"
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
