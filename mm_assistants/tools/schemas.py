"""Load the bundled tool schemas (``schemas/<version>/``) and check them.

The files ship inside the wheel as ``mm_assistants/schemas/`` and are read with
`importlib.resources`. In a source checkout (an editable install) the same files are read
from the repository's top-level ``schemas/`` folder. Loading verifies every file against
the manifest's sha256, so an edited schema that skipped the manifest update fails loudly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError as MetaschemaError

from mm_assistants.tools.manifest import MANIFEST_NAME, hash_mismatches, tool_files
from mm_assistants.tools.strict import strict_problems

if TYPE_CHECKING:
    from importlib.abc import Traversable

#: Every bundled schema set, oldest first.
SCHEMA_VERSIONS = ("v1", "v2")
#: What ``load_registry()`` gives without a version. It stays "v1" so that an assistant set
#: up earlier never gets new tools silently; v2 is always asked for by name.
DEFAULT_SCHEMA_VERSION = "v1"
#: The newest bundled set: MultiMail's 46-tool MCP server (0.7.0 and the spam tools).
LATEST_SCHEMA_VERSION = "v2"
#: From this version on, every tool file carries MCP's ``title`` and ``annotations``.
_ANNOTATED_FROM = "v2"
MAX_TITLE_CHARS = 80
ANNOTATION_HINTS = frozenset({"readOnlyHint", "destructiveHint", "idempotentHint"})
_SOURCE_ROOT = Path(__file__).resolve().parents[2] / "schemas"


class SchemaError(RuntimeError):
    """The bundled schema files are missing, unreadable or changed without their manifest."""


@dataclass(frozen=True)
class Problem:
    """One failed check: the file, the rule it breaks, and what is wrong."""

    file: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: [{self.rule}] {self.message}"


def schema_dir(version: str) -> Traversable:
    """The folder holding schema set ``version``, packaged or in a source checkout."""
    if version not in SCHEMA_VERSIONS:
        known = ", ".join(SCHEMA_VERSIONS)
        raise ValueError(f"unknown schema version {version!r}; bundled versions: {known}")
    packaged = resources.files("mm_assistants") / "schemas" / version
    if packaged.is_dir():
        return packaged
    source = _SOURCE_ROOT / version
    if source.is_dir():
        return source
    raise SchemaError(
        f"the bundled schema folder {version!r} is missing from this installation; "
        "reinstall mm-assistants"
    )


@cache
def load_definitions(version: str = DEFAULT_SCHEMA_VERSION) -> Mapping[str, Mapping[str, Any]]:
    """Tool name -> function definition (``name``, ``description``, ``parameters``; from v2
    on also ``title`` and ``annotations``).

    Cached: the files are read and verified once per process. Callers must not mutate the
    returned definitions; the registry hands out copies.
    """
    root = schema_dir(version)
    manifest = _read_json(root / MANIFEST_NAME)
    files = tool_files(root)
    changed = hash_mismatches(manifest, files)
    if changed:
        raise SchemaError(
            f"schema files changed without a manifest update: {', '.join(changed)} "
            f"(schemas/{version}); a released schema version must not change"
        )
    definitions = {entry.name.removesuffix(".json"): _read_json(entry) for entry in files}
    listed = list(manifest.get("tools", []))
    if sorted(listed) != sorted(definitions):
        raise SchemaError(f"schemas/{version}: the manifest's tool list does not match the files")
    return MappingProxyType(definitions)


def manifest_of(version: str = DEFAULT_SCHEMA_VERSION) -> Mapping[str, Any]:
    """The parsed manifest of schema set ``version``."""
    return read_manifest(schema_dir(version))


def read_manifest(root: Traversable) -> Mapping[str, Any]:
    """The parsed ``manifest.json`` of the schema folder ``root``."""
    return MappingProxyType(_read_json(root / MANIFEST_NAME))


def check_schema_folder(version: str, root: Traversable) -> list[Problem]:
    """Every problem with the schema files in ``root``; empty when the set is sound.

    Checks the manifest (present, version, tool list, hashes), each file's JSON, that its
    ``name`` matches the file name, that ``parameters`` is valid JSON Schema (Draft
    2020-12) and that it follows the strict-mode rules. From v2 on, each file also needs
    a ``title`` and MCP ``annotations``.
    """
    problems: list[Problem] = []
    files = tool_files(root)
    try:
        manifest = _read_json(root / MANIFEST_NAME)
    except SchemaError as exc:
        return [Problem(MANIFEST_NAME, "manifest", str(exc))]
    if manifest.get("schema_version") != version:
        problems.append(Problem(MANIFEST_NAME, "manifest", f"schema_version is not {version!r}"))
    names = [entry.name.removesuffix(".json") for entry in files]
    if sorted(manifest.get("tools", [])) != names:
        problems.append(Problem(MANIFEST_NAME, "manifest", "tool list does not match the files"))
    for name in hash_mismatches(manifest, files):
        problems.append(Problem(name, "sha256", "file differs from its manifest hash"))
    annotated = SCHEMA_VERSIONS.index(version) >= SCHEMA_VERSIONS.index(_ANNOTATED_FROM)
    for entry in files:
        problems.extend(_check_file(entry, annotated=annotated))
    return problems


def _check_file(entry: Traversable, *, annotated: bool) -> list[Problem]:
    try:
        definition = _read_json(entry)
    except SchemaError as exc:
        return [Problem(entry.name, "json", str(exc))]
    problems: list[Problem] = []
    if annotated:
        problems.extend(Problem(entry.name, rule, text) for rule, text in _mcp_problems(definition))
    stem = entry.name.removesuffix(".json")
    if definition.get("name") != stem:
        problems.append(Problem(entry.name, "name", f"name must equal the file name {stem!r}"))
    if not str(definition.get("description", "")).strip():
        problems.append(Problem(entry.name, "description", "a tool needs a description"))
    parameters = definition.get("parameters")
    if not isinstance(parameters, dict):
        return [*problems, Problem(entry.name, "parameters", "parameters must be an object")]
    try:
        Draft202012Validator.check_schema(parameters)
    except MetaschemaError as exc:
        problems.append(Problem(entry.name, "metaschema", exc.message))
    problems.extend(Problem(entry.name, "strict", line) for line in strict_problems(parameters))
    return problems


def _mcp_problems(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    title = definition.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE_CHARS:
        problems.append(("title", f"a tool needs a title of 1 to {MAX_TITLE_CHARS} characters"))
    hints = definition.get("annotations")
    if not isinstance(hints, dict):
        return [*problems, ("annotations", "annotations must be an object")]
    unknown = sorted(set(hints) - ANNOTATION_HINTS)
    if unknown:
        problems.append(("annotations", f"unknown annotations: {', '.join(unknown)}"))
    if not all(isinstance(value, bool) for value in hints.values()):
        problems.append(("annotations", "annotation values must be true or false"))
    return problems


def _read_json(entry: Traversable) -> dict[str, Any]:
    try:
        data = json.loads(entry.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SchemaError(f"{entry.name} is missing") from exc
    except (OSError, ValueError) as exc:
        raise SchemaError(f"{entry.name} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SchemaError(f"{entry.name} must hold a JSON object")
    return data
