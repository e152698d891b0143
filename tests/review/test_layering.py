"""The arrows of the house plan hold for the review page: the sandbox (which mounts it) and
the page's own modules never import the MultiMail client, the dispatcher or the drivers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mm_assistants"
FORBIDDEN = ("mm_assistants.multimail", "mm_assistants.dispatch", "mm_assistants.drivers")
# the review modules the sandbox loads; review/oversight.py is the MultiMail backend
PAGE_MODULES = (
    "__init__.py",
    "app.py",
    "backend.py",
    "page.py",
    "queue.py",
    "text.py",
    "untrusted.py",
)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (TYPE_CHECKING included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def offending(path: Path) -> list[str]:
    return sorted(n for n in imported(path) if n.startswith(FORBIDDEN))


@pytest.mark.parametrize(
    "path",
    [
        *(pytest.param(PACKAGE / "review" / name, id=f"review/{name}") for name in PAGE_MODULES),
        pytest.param(PACKAGE / "sandbox" / "review.py", id="sandbox/review.py"),
        pytest.param(PACKAGE / "sandbox" / "app.py", id="sandbox/app.py"),
    ],
)
def test_the_page_and_the_sandbox_never_import_the_client(path: Path) -> None:
    assert offending(path) == []


def test_the_whole_sandbox_keeps_to_its_side() -> None:
    bad = {
        str(path.relative_to(PACKAGE)): offending(path)
        for path in sorted((PACKAGE / "sandbox").rglob("*.py"))
        if offending(path)
    }
    assert bad == {}


def test_the_check_sees_the_multimail_backend_for_what_it_is() -> None:
    # the one review module allowed the client: proof the check can fail
    assert offending(PACKAGE / "review" / "oversight.py") == ["mm_assistants.multimail"]
