"""The registry's construction and exports, pinned (issue 14): what a fresh registry holds,
duplicate names refused, definitions handed out as copies, the export defaults, and the
tool-count limit at its exact edge."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mm_assistants.tools import ToolRegistry, load_registry
from mm_assistants.tools.formats import MAX_TOOLS
from mm_assistants.tools.registry import ToolSpec


def fresh(specs: list[ToolSpec], version: str = "v9") -> ToolRegistry:
    return ToolRegistry(specs, version=version)


def clones(count: int) -> list[ToolSpec]:
    """``count`` specs shaped like read_email under other names (t000, t001, ...)."""
    model = load_registry()["read_email"]
    specs = []
    for n in range(count):
        definition = copy.deepcopy(model.definition())
        definition["name"] = f"t{n:03d}"
        specs.append(ToolSpec(f"t{n:03d}", model.endpoint, definition))
    return specs


def test_a_fresh_registry_holds_its_specs_by_name_and_says_its_version() -> None:
    specs = [load_registry()[name] for name in ("read_email", "send_email")]
    registry = fresh(specs)
    assert registry.version == "v9"
    assert list(registry) == ["read_email", "send_email"]
    assert len(registry) == 2
    assert registry["send_email"] is specs[1]
    assert repr(registry) == "ToolRegistry(version='v9', tools=2)"
    with pytest.raises(KeyError):
        registry["check_inbox"]
    with pytest.raises(TypeError):
        registry["x"] = specs[0]  # type: ignore[index]


def test_a_duplicate_tool_name_is_refused_saying_which() -> None:
    spec = load_registry()["read_email"]
    with pytest.raises(ValueError) as refused:
        fresh([spec, load_registry()["send_email"], spec], version="v7")
    assert str(refused.value) == "duplicate tool name 'read_email' in schema set 'v7'"


def test_a_definition_is_handed_out_as_a_deep_copy() -> None:
    spec = load_registry()["send_email"]
    before = copy.deepcopy(spec.definition())
    handed = spec.definition()
    handed["parameters"]["properties"].clear()
    handed["description"] = "changed"
    assert spec.definition() == before


def test_the_default_export_is_the_assistants_format_without_self_approval() -> None:
    tools: list[dict[str, Any]] = load_registry().tools(tools=["read_email"])
    assert [tool["type"] for tool in tools] == ["function"]
    assert tools[0]["function"]["name"] == "read_email"
    assert tools[0]["function"]["strict"] is True
    with pytest.raises(ValueError, match="both compose email and approve it"):
        load_registry().tools(tools=["send_email", "decide_email"])


def test_exactly_max_tools_are_exported_and_one_more_is_refused() -> None:
    registry = fresh(clones(MAX_TOOLS + 1))
    names = list(registry)
    assert len(registry.tools("responses", tools=names[:MAX_TOOLS])) == MAX_TOOLS
    with pytest.raises(ValueError) as refused:
        registry.tools("responses", tools=names)
    assert str(refused.value) == (f"OpenAI accepts at most {MAX_TOOLS} tools; got {MAX_TOOLS + 1}")
