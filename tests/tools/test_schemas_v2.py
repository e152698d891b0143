"""The v2 files: checks, manifest, v1 untouched, exports, limits and path patterns."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from mm_assistants.tools import FORMATS, load_registry
from mm_assistants.tools.formats import export_definition
from mm_assistants.tools.ids import path_value_problem
from mm_assistants.tools.manifest import build_manifest, write_manifest
from mm_assistants.tools.schemas import check_schema_folder, schema_dir
from tests.tools.path_cases import HOSTILE_VALUES
from tests.tools.test_registry_v2 import POW, SIGNUP

#: sha256 of schemas/v1/manifest.json as released; the manifest holds every file's hash.
V1_MANIFEST_SHA256 = "e7d479eed81f8fd85803095067fcc5dd392f2311db48d51b7f7b4bb22a936ca7"


def test_v2_passes_every_check() -> None:
    assert check_schema_folder("v2", schema_dir("v2")) == []


def test_v2_manifest_records_api_version_and_source() -> None:
    root = schema_dir("v2")
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest == build_manifest("v2", root)
    assert manifest["multimail_api_version"] == "2.0.0"
    assert manifest["source"] == {
        "repository": "multimail-dev/mcp-server",
        "version": "0.7.0",
        "commit": "4964220",
        "note": "0.7.0 plus the spam-review tools",
    }
    assert len(manifest["tools"]) == 46


def test_v1_is_byte_identical_and_rewriting_its_manifest_changes_nothing(tmp_path: Path) -> None:
    root = Path(str(schema_dir("v1")))
    data = (root / "manifest.json").read_bytes()
    assert hashlib.sha256(data).hexdigest() == V1_MANIFEST_SHA256
    assert check_schema_folder("v1", root) == []  # every file matches its recorded hash
    copy = tmp_path / "v1"
    shutil.copytree(root, copy)
    write_manifest("v1", copy)
    assert (copy / "manifest.json").read_bytes() == data
    assert "source" not in json.loads(data)


@pytest.fixture
def v2_copy(tmp_path: Path) -> Path:
    target = tmp_path / "v2"
    shutil.copytree(Path(str(schema_dir("v2"))), target)
    return target


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        pytest.param(lambda d: d.pop("title"), "title", id="no-title"),
        pytest.param(lambda d: d.update(title=" "), "title", id="blank-title"),
        pytest.param(lambda d: d.update(title="x" * 81), "title", id="long-title"),
        pytest.param(lambda d: d.pop("annotations"), "annotations", id="no-annotations"),
        pytest.param(
            lambda d: d["annotations"].update(openWorldHint=True), "annotations", id="unknown"
        ),
        pytest.param(
            lambda d: d["annotations"].update(readOnlyHint="yes"), "annotations", id="not-bool"
        ),
    ],
)
def test_v2_files_need_title_and_annotations(v2_copy: Path, change: Any, rule: str) -> None:
    path = v2_copy / "list_spam.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2) + "\n")
    write_manifest("v2", v2_copy)
    problems = check_schema_folder("v2", v2_copy)
    assert [(p.file, p.rule) for p in problems] == [("list_spam.json", rule)]
    assert check_schema_folder("v1", schema_dir("v1")) == []  # v1 never needs them


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("format", FORMATS)
def test_exports_never_carry_title_or_annotations(format: Any, strict: bool) -> None:
    registry = load_registry("v2")
    exported = [
        export_definition(registry[name].definition(), format=format, strict=strict)
        for name in registry
    ]
    assert len(exported) == 46
    assert all(registry[name].title for name in registry)  # there was something to leave out
    text = json.dumps(exported)
    assert '"title"' not in text
    assert "annotations" not in text
    assert "Hint" not in text


def _valid(tool: str, **values: Any) -> bool:
    spec = load_registry("v2")[tool]
    args: dict[str, Any] = dict.fromkeys(spec.parameters["required"])
    args.update(values)
    return spec.validator.is_valid(args)


@pytest.mark.parametrize(
    ("tool", "values", "valid"),
    [
        pytest.param("list_spam", {"limit": 100}, True, id="spam-limit-100"),
        pytest.param("list_spam", {"limit": 0}, False, id="spam-limit-0"),
        pytest.param("list_spam", {"limit": 101}, False, id="spam-limit-101"),
        pytest.param("list_spam", {"status": "unread"}, False, id="spam-status"),
        pytest.param("check_inbox", {"status": "spam_quarantined"}, False, id="inbox-no-spam"),
        pytest.param("upgrade_plan", {"plan": "enterprise"}, False, id="plan-enum"),
        pytest.param("upgrade_plan", {"plan": "pro", "interval": "weekly"}, False, id="interval"),
        pytest.param("resend_confirmation", {}, False, id="resend-needs-email"),
        pytest.param("resend_confirmation", {"oversight_email": "x"}, False, id="resend-format"),
        pytest.param("resend_confirmation", {"oversight_email": "a@b.co"}, True, id="resend-ok"),
        pytest.param("create_account", SIGNUP, True, id="signup-ok"),
        pytest.param("create_account", {**SIGNUP, "accepted_tos": False}, False, id="tos-false"),
        pytest.param(
            "create_account", {**SIGNUP, "operator_name": "x" * 201}, False, id="name-201"
        ),
        pytest.param(
            "create_account", {**SIGNUP, "pow_solution": {**POW, "number": "7"}}, False, id="pow"
        ),
        pytest.param(
            "create_account", {**SIGNUP, "oversight_mode": "autonomous"}, False, id="no-autonomy"
        ),
        pytest.param("cancel_subscription", {"approval_code": "x" * 17}, False, id="code-17"),
        pytest.param("configure_mailbox", {"ai_disclosure": "no"}, False, id="disclosure-bool"),
    ],
)
def test_v2_limits(tool: str, values: dict[str, Any], valid: bool) -> None:
    assert _valid(tool, **values) is valid


def _path_parameters() -> list[tuple[str, str]]:
    registry = load_registry("v2")
    found = [
        (name, key)
        for name in registry
        for key in re.findall(r"\{(\w+)\}", registry[name].endpoint.path)
    ]
    return sorted({*found, ("tag_email", "key")})  # the delete action's extra segment


PATH_PARAMETERS = [pytest.param(tool, key, id=f"{tool}-{key}") for tool, key in _path_parameters()]
TYPICAL = {"filename": "report (final).pdf", "key": "stage", "email_address": "x+y@example.com"}


def _property_validator(tool: str, key: str) -> Draft202012Validator:
    schema = load_registry("v2")[tool].parameters["properties"][key]
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.mark.parametrize(("tool", "key"), PATH_PARAMETERS)
def test_every_path_parameter_has_a_pattern_that_refuses_dot_segments(tool: str, key: str) -> None:
    validator = _property_validator(tool, key)
    assert "pattern" in validator.schema
    for value in ("", ".", "..", "a/b", "a\\b", "../x"):
        assert not validator.is_valid(value), value
    assert validator.is_valid(TYPICAL.get(key, "em_v5j7umnez2idzgyqsixq"))


@pytest.mark.parametrize(("tool", "key"), PATH_PARAMETERS)
def test_a_pattern_never_accepts_what_binding_refuses(tool: str, key: str) -> None:
    validator = _property_validator(tool, key)
    for value in HOSTILE_VALUES:
        if validator.is_valid(value):
            assert path_value_problem(key, value) is None, repr(value)


#: Every character NFKC folds into ``/``, ``\\`` or ``%`` (computed with unicodedata).
FOLDS_TO_SEPARATOR = [
    chr(cp)
    for cp in range(0x80, 0x110000)
    if not 0xD800 <= cp <= 0xDFFF and set(unicodedata.normalize("NFKC", chr(cp))) & set("/\\%")
]
TEXT_PARAMETERS = [
    param for param in PATH_PARAMETERS if param.values[1] in ("filename", "key", "email_address")
]


@pytest.mark.parametrize(("tool", "key"), TEXT_PARAMETERS)
def test_a_text_pattern_refuses_every_character_that_folds_to_a_separator(
    tool: str, key: str
) -> None:
    validator = _property_validator(tool, key)
    assert len(FOLDS_TO_SEPARATOR) >= 9
    for char in ("/", "\\", "%", *FOLDS_TO_SEPARATOR):
        assert not validator.is_valid(f"a{char}b"), hex(ord(char))
        assert path_value_problem(key, f"a{char}b") is not None, hex(ord(char))


def test_the_path_parameters_are_the_expected_ones() -> None:
    keys = {key for _, key in _path_parameters()}
    assert keys == {
        "mailbox_id",
        "email_id",
        "thread_id",
        "contact_id",
        "key_id",
        "webhook_id",
        "email_address",
        "filename",
        "key",
    }
    assert ("report_spam", "email_id") in _path_parameters()
