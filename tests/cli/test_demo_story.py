"""The demo's two tellings share one story and import each other nowhere (issue 13, item 7):
not at module level, not inside a function."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

DEMOS = ("mm_assistants.cli.demo", "mm_assistants.cli.demo_webhooks")


def imported(module: str) -> set[str]:
    """Every module ``module`` imports anywhere in its source (absolute names)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None
    assert spec.origin is not None
    names: set[str] = set()
    for node in ast.walk(ast.parse(Path(spec.origin).read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(("module", "other"), [DEMOS, DEMOS[::-1]])
def test_neither_demo_imports_the_other(module: str, other: str) -> None:
    assert other not in imported(module)
    assert "mm_assistants.cli.demo_story" in imported(module)
