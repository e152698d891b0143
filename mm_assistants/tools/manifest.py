"""The schema set's manifest: version, targeted API version, tools and file hashes.

A released schema version never changes silently: every file's sha256 is recorded here,
and loading or checking a set whose files differ from their recorded hashes fails.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.abc import Traversable

MANIFEST_NAME = "manifest.json"
MULTIMAIL_API_VERSION = "2.0.0"
#: What each schema set follows beyond the API version. v1 records nothing more, and its
#: released manifest must keep its bytes, so only later sets carry a ``source``.
SOURCES: dict[str, dict[str, str]] = {
    "v2": {
        "repository": "multimail-dev/mcp-server",
        "version": "0.7.0",
        "commit": "4964220",
        "note": "0.7.0 plus the spam-review tools",
    },
}


def sha256_of(data: bytes) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def tool_files(root: Traversable) -> list[Traversable]:
    """The tool definition files of a schema folder, sorted by name."""
    return sorted(
        (entry for entry in root.iterdir() if _is_tool_file(entry.name)),
        key=lambda entry: entry.name,
    )


def _is_tool_file(name: str) -> bool:
    return name.endswith(".json") and name != MANIFEST_NAME


def build_manifest(version: str, root: Traversable) -> dict[str, Any]:
    """The manifest that matches the files in ``root`` as they are now."""
    files = tool_files(root)
    manifest: dict[str, Any] = {
        "schema_version": version,
        "multimail_api_version": MULTIMAIL_API_VERSION,
    }
    if version in SOURCES:
        manifest["source"] = dict(SOURCES[version])
    manifest["tools"] = [entry.name.removesuffix(".json") for entry in files]
    manifest["sha256"] = {entry.name: sha256_of(entry.read_bytes()) for entry in files}
    return manifest


def write_manifest(version: str, root: Path) -> Path:
    """Rewrite ``root/manifest.json`` from the files: the step a schema change must include."""
    target = root / MANIFEST_NAME
    text = json.dumps(build_manifest(version, root), indent=2) + "\n"
    target.write_text(text, encoding="utf-8")
    return target


def hash_mismatches(manifest: dict[str, Any], files: Iterable[Traversable]) -> list[str]:
    """Names of files whose bytes differ from the manifest, or that it does not list."""
    recorded: dict[str, str] = manifest.get("sha256", {})
    return [
        entry.name for entry in files if recorded.get(entry.name) != sha256_of(entry.read_bytes())
    ]
