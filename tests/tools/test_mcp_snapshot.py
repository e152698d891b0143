"""schemas/v2 against MultiMail's own MCP server: a ``tools/list`` snapshot kept in the repo.

The snapshot (``mcp_tools_list_0.7.0-spam.json``) is what ``scripts/mcp_tools_list.py``
got from the server built from commit 4964220. Every difference between it and v2 is
either listed in `DEVIATIONS`, with its reason, or a failure.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mm_assistants.tools import load_registry
from mm_assistants.tools.strict import admits_null

SNAPSHOT = Path(__file__).with_name("mcp_tools_list_0.7.0-spam.json")

#: (tool, parameter) -> why v2 differs from MCP there. "absent" means MCP has the
#: parameter and v2 does not; "added" the other way round.
DEVIATIONS: Mapping[tuple[str, str], tuple[str, str]] = {
    ("get_billing_portal", "return_url"): (
        "absent",
        "where the operator's browser goes after paying: a hostile email could have a "
        "prompt-injected model aim it at a phishing page, so the model never sets it",
    ),
    ("list_spam", "status"): (
        "added",
        "MultiMail's OpenAPI document filters GET /v1/emails by spam_flagged/spam_quarantined",
    ),
    ("list_spam", "cursor"): (
        "added",
        "MultiMail's OpenAPI document pages GET /v1/emails with a cursor; without it a "
        "model sees only the first page",
    ),
}


def snapshot() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return data


def _enum(schema: Mapping[str, Any]) -> set[Any] | None:
    if "const" in schema:
        return {schema["const"]}
    if "enum" in schema:
        return {value for value in schema["enum"] if value is not None}
    for option in schema.get("anyOf", ()):
        found = _enum(option)
        if found is not None:
            return found
    return None


def differences(ours: Mapping[str, Mapping[str, Any]], tools: list[dict[str, Any]]) -> list[str]:
    """Every way the v2 definitions ``ours`` differ from MCP's listed ``tools``, unexplained."""
    theirs = {tool["name"]: tool for tool in tools}
    found: list[str] = []
    if set(ours) != set(theirs):
        found.append(f"tool names differ: {sorted(set(ours) ^ set(theirs))}")
    for name in sorted(set(ours) & set(theirs)):
        mine, mcp = ours[name], theirs[name]
        if mine.get("title") != mcp.get("title"):
            found.append(f"{name}: title {mine.get('title')!r} != {mcp.get('title')!r}")
        if mine.get("annotations") != mcp.get("annotations"):
            found.append(f"{name}: annotations differ")
        found.extend(_parameter_differences(name, mine["parameters"], mcp["inputSchema"]))
    return found


def _parameter_differences(name: str, mine: Mapping[str, Any], mcp: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    props, their_props = mine["properties"], mcp.get("properties", {})
    required = set(mcp.get("required", ()))
    for key in sorted(set(props) | set(their_props)):
        expected = "absent" if key not in props else "added" if key not in their_props else None
        if DEVIATIONS.get((name, key), (None,))[0] != expected:
            found.append(f"{name}.{key}: {expected or 'present in both'}, not as DEVIATIONS says")
        if expected is not None:
            continue
        nullable = admits_null(props[key])
        if key in required and nullable:
            found.append(f"{name}.{key}: MCP requires it, v2 lets it be null")
        if key not in required and not nullable:
            found.append(f"{name}.{key}: optional in MCP, v2 does not accept null")
        if _enum(props[key]) != _enum(their_props[key]):
            found.append(f"{name}.{key}: enum values differ")
    return found


def v2_definitions() -> dict[str, dict[str, Any]]:
    registry = load_registry("v2")
    return {name: registry[name].definition() for name in registry}


def test_the_snapshot_records_its_source() -> None:
    source = snapshot()["source"]
    assert source["repository"] == "multimail-dev/mcp-server"
    assert source["commit"] == "4964220"
    assert source["generated_by"] == "scripts/mcp_tools_list.py"
    assert len(snapshot()["tools"]) == 46
    assert "setup_multimail" not in {tool["name"] for tool in snapshot()["tools"]}


def test_v2_matches_multimails_own_tool_list() -> None:
    assert differences(v2_definitions(), snapshot()["tools"]) == []


def test_every_deviation_is_explained_and_still_needed() -> None:
    theirs = {tool["name"]: tool["inputSchema"]["properties"] for tool in snapshot()["tools"]}
    ours = v2_definitions()
    for (tool, key), (kind, reason) in DEVIATIONS.items():
        assert len(reason) > 40, (tool, key)
        assert (key in theirs[tool]) is (kind == "absent"), (tool, key)
        assert (key in ours[tool]["parameters"]["properties"]) is (kind == "added"), (tool, key)


def _drift(change: Any) -> list[str]:
    ours = copy.deepcopy(v2_definitions())
    change(ours)
    return differences(ours, snapshot()["tools"])


def test_a_drifting_v2_file_fails_the_comparison() -> None:
    def rename_title(ours: dict[str, Any]) -> None:
        ours["send_email"]["title"] = "Send mail"

    def make_required_nullable(ours: dict[str, Any]) -> None:
        ours["report_spam"]["parameters"]["properties"]["email_id"]["type"] = ["string", "null"]

    def drop_enum_value(ours: dict[str, Any]) -> None:
        ours["upgrade_plan"]["parameters"]["properties"]["plan"]["enum"] = ["builder", "pro"]

    def add_parameter(ours: dict[str, Any]) -> None:
        ours["not_spam"]["parameters"]["properties"]["reason"] = {"type": ["string", "null"]}

    def drop_tool(ours: dict[str, Any]) -> None:
        del ours["list_spam"]

    def flip_hint(ours: dict[str, Any]) -> None:
        ours["report_spam"]["annotations"] = {**ours["report_spam"]["annotations"]}
        ours["report_spam"]["annotations"]["destructiveHint"] = True

    assert _drift(rename_title) == ["send_email: title 'Send mail' != 'Send email message'"]
    assert _drift(make_required_nullable) == [
        "report_spam.email_id: MCP requires it, v2 lets it be null"
    ]
    assert _drift(drop_enum_value) == ["upgrade_plan.plan: enum values differ"]
    assert _drift(add_parameter) == ["not_spam.reason: added, not as DEVIATIONS says"]
    assert _drift(drop_tool) == ["tool names differ: ['list_spam']"]
    assert _drift(flip_hint) == ["report_spam: annotations differ"]
