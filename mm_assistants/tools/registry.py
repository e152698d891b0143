"""`ToolRegistry` and `ToolSpec`: the bundled tools, their endpoints and flags.

>>> registry = load_registry("v1")
>>> registry["send_email"].scope
'send'
>>> registry.bind("read_email", {"email_id": "em_1", "mailbox_id": None}, mailbox_id="mbx_1").path
'/v1/mailboxes/mbx_1/emails/em_1'
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from types import MappingProxyType
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from mm_assistants.tools.binding import bind_request
from mm_assistants.tools.compiled_check import quick_checker
from mm_assistants.tools.endpoints import ENDPOINTS_V1, Effect, Endpoint, Scope
from mm_assistants.tools.endpoints_v2 import ENDPOINTS_V2
from mm_assistants.tools.formats import MAX_TOOLS, ToolFormat, export_definition
from mm_assistants.tools.profiles import resolve_tools
from mm_assistants.tools.request import RequestSpec
from mm_assistants.tools.schemas import DEFAULT_SCHEMA_VERSION, load_definitions, manifest_of
from mm_assistants.tools.strict import accepting_form, admits_null

_ENDPOINT_TABLES: Mapping[str, Mapping[str, Endpoint]] = {"v1": ENDPOINTS_V1, "v2": ENDPOINTS_V2}


@dataclass(frozen=True, eq=False)
class ToolSpec:
    """One tool: its function definition, its endpoint and what calling it may do."""

    name: str
    endpoint: Endpoint
    _definition: Mapping[str, Any] = field(repr=False)

    @property
    def description(self) -> str:
        """The description the model reads."""
        return str(self._definition["description"])

    @property
    def title(self) -> str | None:
        """MCP's human-readable title (v2 on); ``None`` in v1, which bundles no titles.

        Never exported to OpenAI, whose tool shapes reject unknown keys.
        """
        title = self._definition.get("title")
        return None if title is None else str(title)

    @property
    def annotations(self) -> Mapping[str, bool] | None:
        """MCP's hints (``readOnlyHint``, ``destructiveHint``, ``idempotentHint``), read-only.

        As MultiMail's MCP server states them, from v2 on (a missing hint means false); a
        test holds them equal to `effect` and `idempotent`. ``None`` in v1: it bundles no
        annotations, and deriving some would pass our flags off as MultiMail's.
        """
        hints = self._definition.get("annotations")
        return None if hints is None else MappingProxyType(dict(hints))

    @property
    def parameters(self) -> dict[str, Any]:
        """A copy of the bundled (strict) parameter schema."""
        return copy.deepcopy(dict(self._definition["parameters"]))

    def definition(self) -> dict[str, Any]:
        """A copy of the bundled function definition: ``name``, ``description``, ``parameters``
        (and, from v2 on, ``title`` and ``annotations``)."""
        return copy.deepcopy(dict(self._definition))

    @property
    def scope(self) -> Scope:
        """The MultiMail API key scope the call needs."""
        return self.endpoint.scope

    @property
    def effect(self) -> Effect:
        """``read``, ``write`` or ``destructive``."""
        return self.endpoint.effect

    @property
    def idempotent(self) -> bool:
        """True when repeating the call changes nothing more."""
        return self.endpoint.idempotent

    @property
    def gated(self) -> bool:
        """True when the answer may be a message held for a human's approval."""
        return self.endpoint.gated

    @property
    def client_side(self) -> bool:
        """True when the dispatcher carries the tool out in several requests."""
        return self.endpoint.client_side

    @cached_property
    def validator(self) -> Draft202012Validator:
        """A compiled validator for the call's arguments (built once, on first use).

        It accepts strict-mode calls (every property, null when unused) and relaxed ones
        (optional properties left out) alike.
        """
        schema = accepting_form(self._definition["parameters"])
        return Draft202012Validator(schema, format_checker=FormatChecker())

    @cached_property
    def quick_check(self) -> Callable[[Any], bool]:
        """A fast yes/no on the call's arguments: the same schema compiled to plain Python.

        True means `validator` accepts them too (the formats are judged by `validator`'s
        own format checker, and a differential test holds the two together); False, or any
        doubt, means "ask `validator`", which also explains what is wrong. It makes a
        valid call's check some 25 times cheaper.
        """
        return quick_checker(accepting_form(self._definition["parameters"]), self.validator)

    def __repr__(self) -> str:
        return (
            f"ToolSpec(name={self.name!r}, method={self.endpoint.method!r}, "
            f"path={self.endpoint.path!r}, scope={self.scope!r}, effect={self.effect!r})"
        )


class ToolRegistry(Mapping[str, ToolSpec]):
    """A read-only mapping of tool name to `ToolSpec` for one schema version."""

    def __init__(self, specs: Iterable[ToolSpec], *, version: str) -> None:
        table: dict[str, ToolSpec] = {}
        for spec in specs:
            if spec.name in table:
                raise ValueError(f"duplicate tool name {spec.name!r} in schema set {version!r}")
            table[spec.name] = spec
        self._specs = MappingProxyType(table)
        self.version = version

    def __getitem__(self, name: str) -> ToolSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"ToolRegistry(version={self.version!r}, tools={len(self)})"

    def resolve(
        self,
        *,
        profile: str | None = "agent",
        tools: Iterable[str] | None = None,
        allow_self_approval: bool = False,
    ) -> tuple[str, ...]:
        """The tool names of a profile (``agent``, ``reviewer``, ``admin``) or a custom list."""
        return resolve_tools(
            self,
            profile=profile,
            tools=tools,
            allow_self_approval=allow_self_approval,
            version=self.version,
        )

    def tools(
        self,
        format: ToolFormat = "assistants",
        *,
        profile: str | None = "agent",
        tools: Iterable[str] | None = None,
        strict: bool = True,
        mailbox_id: str | None = None,
        allow_self_approval: bool = False,
    ) -> list[dict[str, Any]]:
        """Tool definitions as plain dicts the openai SDK accepts.

        With ``mailbox_id`` given, the model no longer sees a ``mailbox_id`` argument on
        mailbox tools: the dispatcher fills it in.
        """
        names = self.resolve(profile=profile, tools=tools, allow_self_approval=allow_self_approval)
        if len(names) > MAX_TOOLS:
            raise ValueError(f"OpenAI accepts at most {MAX_TOOLS} tools; got {len(names)}")
        exported = []
        for name in names:
            spec = self[name]
            hide = _pinned_mailbox(spec) if mailbox_id is not None else frozenset()
            exported.append(
                export_definition(spec.definition(), format=format, strict=strict, hide=hide)
            )
        return exported

    def bind(
        self, name: str, arguments: Mapping[str, Any], *, mailbox_id: str | None = None
    ) -> RequestSpec:
        """The HTTP request for ``arguments`` of tool ``name`` (no I/O, no validation).

        ``mailbox_id`` is the default mailbox for calls that name none. Raises `KeyError`
        for an unknown tool and `ToolArgumentError` for arguments that cannot form a
        request; validate first with ``registry[name].validator`` to get per-field errors.
        """
        spec = self[name]
        return bind_request(name, spec.endpoint, arguments, default_mailbox=mailbox_id)


def _pinned_mailbox(spec: ToolSpec) -> frozenset[str]:
    # Only an optional mailbox_id that picks the mailbox in the path can be pinned:
    # delete_mailbox's required id names its target, create_webhook's is a filter.
    schema = spec.parameters["properties"].get("mailbox_id")
    if spec.endpoint.mailbox_scoped and schema is not None and admits_null(schema):
        return frozenset({"mailbox_id"})
    return frozenset()


@cache
def load_registry(version: str = DEFAULT_SCHEMA_VERSION) -> ToolRegistry:
    """The registry of bundled schema set ``version`` (cached; read-only).

    Without a version it is ``"v1"``, never the latest: an assistant built on it must not
    gain tools because the library was upgraded. Ask for ``load_registry("v2")`` by name.
    """
    definitions = load_definitions(version)
    endpoints = _ENDPOINT_TABLES[version]
    missing = sorted(set(definitions) ^ set(endpoints))
    if missing:
        raise RuntimeError(f"schema files and endpoint table disagree on: {', '.join(missing)}")
    manifest_of(version)  # fail early when the manifest is unreadable
    return ToolRegistry(
        (ToolSpec(name, endpoints[name], definitions[name]) for name in definitions),
        version=version,
    )
