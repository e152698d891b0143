"""The bundled files: strict-mode rules, metaschema, manifest hashes, descriptions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mm_assistants.tools import SchemaError, load_registry
from mm_assistants.tools.manifest import build_manifest, write_manifest
from mm_assistants.tools.schemas import check_schema_folder, load_definitions, schema_dir
from mm_assistants.tools.strict import admits_null, strict_problems

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference"


def test_the_bundled_set_passes_every_check() -> None:
    assert check_schema_folder("v1", schema_dir("v1")) == []


def test_the_manifest_records_version_api_and_hashes() -> None:
    root = schema_dir("v1")
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest == build_manifest("v1", root)
    assert manifest["multimail_api_version"] == "2.0.0"
    assert len(manifest["tools"]) == 38


def test_tool_names_match_multimails_own_tool_set() -> None:
    path = REFERENCE / "multimail-mcp-0.5.3-tool-params.json"
    if not path.exists():
        pytest.skip("../shared/reference is not beside this checkout")
    reference = json.loads(path.read_text())
    assert set(load_registry()) == set(reference)
    for name, params in reference.items():
        ours = set(load_registry()[name].parameters["properties"])
        theirs = set(params) - {"webhook_url", "oversight_webhook_url"}  # left out on purpose
        assert ours == theirs, name
        for arg, meta in params.items():
            if arg in ours and meta["required"]:
                assert not admits_null(load_registry()[name].parameters["properties"][arg]), arg


@pytest.fixture
def copied_set(tmp_path: Path) -> Path:
    target = tmp_path / "v1"
    shutil.copytree(Path(str(schema_dir("v1"))), target)
    return target


def _edit(root: Path, name: str, change: Any) -> None:
    path = root / f"{name}.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def test_a_changed_file_without_a_manifest_update_fails(copied_set: Path) -> None:
    _edit(copied_set, "send_email", lambda d: d.update(description="Sends mail."))
    problems = check_schema_folder("v1", copied_set)
    assert [(p.file, p.rule) for p in problems] == [("send_email.json", "sha256")]
    write_manifest("v1", copied_set)
    assert check_schema_folder("v1", copied_set) == []


@pytest.mark.parametrize(
    ("change", "rule", "text"),
    [
        pytest.param(
            lambda d: d["parameters"].update(additionalProperties=True),
            "strict",
            "additionalProperties",
            id="open-object",
        ),
        pytest.param(
            lambda d: d["parameters"]["required"].remove("subject"),
            "strict",
            "not required: subject",
            id="missing-required",
        ),
        pytest.param(
            lambda d: d["parameters"]["properties"]["subject"].update(default="x"),
            "strict",
            "'default' is not allowed",
            id="unsupported-keyword",
        ),
        pytest.param(
            lambda d: d["parameters"]["properties"]["to"].update(type="list"),
            "metaschema",
            "list",
            id="not-json-schema",
        ),
        pytest.param(lambda d: d.update(name="send_mail"), "name", "file name", id="wrong-name"),
        pytest.param(lambda d: d.update(description=" "), "description", "", id="no-description"),
    ],
)
def test_check_names_the_file_and_rule(copied_set: Path, change: Any, rule: str, text: str) -> None:
    _edit(copied_set, "send_email", change)
    write_manifest("v1", copied_set)
    problems = check_schema_folder("v1", copied_set)
    assert problems
    assert {p.file for p in problems} == {"send_email.json"}
    assert any(p.rule == rule and text in p.message for p in problems), problems


def test_a_broken_manifest_or_file_is_reported(copied_set: Path) -> None:
    (copied_set / "read_email.json").write_text("{not json")
    assert any(p.rule == "json" for p in check_schema_folder("v1", copied_set))
    (copied_set / "manifest.json").unlink()
    assert [p.rule for p in check_schema_folder("v1", copied_set)] == ["manifest"]


def test_loading_refuses_a_tampered_set(copied_set: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _edit(copied_set, "read_email", lambda d: d.update(description="changed"))
    monkeypatch.setattr("mm_assistants.tools.schemas._SOURCE_ROOT", copied_set.parent)
    monkeypatch.setattr("mm_assistants.tools.schemas.resources.files", lambda _: copied_set / "x")
    load_definitions.cache_clear()
    try:
        with pytest.raises(SchemaError, match=r"read_email\.json"):
            load_definitions("v1")
    finally:
        load_definitions.cache_clear()


def test_every_tool_describes_safety_where_it_matters() -> None:
    registry = load_registry()
    for name in ("read_email", "check_inbox", "get_thread", "list_pending"):
        assert "instruction" in registry[name].description.lower(), name
    for name in ("send_email", "reply_email", "schedule_email"):
        assert "pending_scan" in registry[name].description, name
        assert "pending_send_approval" in registry[name].description, name
        assert "never send it again" in registry[name].description.lower(), name
    for name in ("download_attachment", "wait_for_email", "decide_email"):
        assert "never" in registry[name].description.lower(), name


@pytest.mark.parametrize(
    ("arguments", "valid"),
    [
        pytest.param({"to": []}, False, id="no-recipient"),
        pytest.param({"to": [f"a{i}@example.com" for i in range(51)]}, False, id="51-recipients"),
        pytest.param({"subject": "x" * 999}, False, id="long-subject"),
        pytest.param({"send_at": "2026-12-01T09:00:00+01:00"}, False, id="send-at-not-utc"),
        pytest.param({"send_at": "2026-12-01T09:00:00Z"}, True, id="send-at-utc"),
        pytest.param({"gate_timing": "later"}, False, id="bad-enum"),
        pytest.param({"extra": 1}, False, id="unknown-argument"),
        pytest.param({}, True, id="baseline"),
    ],
)
def test_send_email_constraints(arguments: dict[str, Any], valid: bool) -> None:
    spec = load_registry()["send_email"]
    base: dict[str, Any] = dict.fromkeys(spec.parameters["required"])
    base.update(to=["ana@example.com"], subject="Hi", markdown="Hello")
    base.update(arguments)
    assert spec.validator.is_valid(base) is valid


@pytest.mark.parametrize(
    ("tool", "field", "value", "valid"),
    [
        pytest.param("check_inbox", "limit", 0, False, id="limit-0"),
        pytest.param("check_inbox", "limit", 100, True, id="limit-100"),
        pytest.param("check_inbox", "limit", 101, False, id="limit-101"),
        pytest.param("wait_for_email", "timeout_seconds", 4, False, id="timeout-4"),
        pytest.param("wait_for_email", "timeout_seconds", 120, True, id="timeout-120"),
        pytest.param("get_usage", "period", "weekly", False, id="period"),
        pytest.param("decide_email", "action", "maybe", False, id="decide-action"),
    ],
)
def test_range_and_enum_constraints(tool: str, field: str, value: Any, valid: bool) -> None:
    spec = load_registry()[tool]
    args: dict[str, Any] = dict.fromkeys(spec.parameters["required"])
    args.update({"email_id": "e", "action": "approve"} if tool == "decide_email" else {})
    args[field] = value
    assert spec.validator.is_valid(args) is valid


def test_strict_rules_catch_nested_problems() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {
                "type": "array",
                "items": {"type": "object", "properties": {"b": {"type": "string"}}},
                "description": "d",
            },
            "c": {"type": "string", "format": "uri", "description": "d"},
        },
        "required": ["a", "c"],
        "additionalProperties": False,
    }
    problems = strict_problems(schema)
    assert any("parameters.a[]: objects must set additionalProperties" in p for p in problems)
    assert any("parameters.a[].b: every property needs a description" in p for p in problems)
    assert any("format 'uri'" in p for p in problems)
    assert strict_problems({"type": "array"})[0] == "parameters: the root must be an object schema"


REPLY = {"email_id": "e", "markdown": "m"}
TAG = {"email_id": "e", "action": "set"}


@pytest.mark.parametrize(
    ("tool", "base", "field", "value", "valid"),
    [
        pytest.param("reply_email", REPLY, "cc", ["not-an-address"], False, id="reply-cc-email"),
        pytest.param("reply_email", REPLY, "bcc", ["b@example.com"] * 51, False, id="reply-bcc-51"),
        pytest.param("check_inbox", {}, "direction", "sideways", False, id="direction-enum"),
        pytest.param("check_inbox", {}, "status", "sent", False, id="status-enum"),
        pytest.param("check_inbox", {}, "status", "pending_send_approval", True, id="status-ok"),
        pytest.param("configure_mailbox", {}, "oversight_mode", "open", False, id="mode-enum"),
        pytest.param(
            "configure_mailbox", {}, "default_gate_timing", "later", False, id="gate-timing-enum"
        ),
        pytest.param(
            "schedule_email",
            {
                "to": ["a@example.com"],
                "subject": "s",
                "markdown": "m",
                "send_at": "2030-01-01T09:00Z",
            },
            "send_at",
            "2030-01-01T09:00:00",
            False,
            id="schedule-send-at-needs-z",
        ),
        pytest.param("tag_email", TAG, "tags", [{"key": "k", "value": "v"}], True, id="tag-pairs"),
        pytest.param(
            "tag_email", TAG, "tags", [{"key": "k", "value": 1}], False, id="tag-value-string"
        ),
        pytest.param(
            "tag_email",
            TAG,
            "tags",
            [{"key": "k", "value": "v", "colour": "red"}],
            False,
            id="tag-pair-closed",
        ),
        pytest.param("tag_email", TAG, "tags", {"k": "v"}, False, id="tag-map-is-not-pairs"),
        pytest.param(
            "edit_scheduled_email", {"email_id": "e"}, "to", [], False, id="edit-to-empty"
        ),
        pytest.param(
            "edit_scheduled_email", {"email_id": "e"}, "to", None, True, id="edit-to-kept"
        ),
    ],
)
def test_named_constraints_of_other_tools(
    tool: str, base: dict[str, Any], field: str, value: Any, valid: bool
) -> None:
    spec = load_registry()[tool]
    args: dict[str, Any] = dict.fromkeys(spec.parameters["required"])
    args.update(base)
    assert spec.validator.is_valid(args), "the baseline must be valid"
    args[field] = value
    assert spec.validator.is_valid(args) is valid
