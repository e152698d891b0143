"""The declared dependencies: security floors that stay raised, and tested majors only."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the suite runs on 3.11+
    pytest.skip("tomllib needs Python 3.11", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: Versions with published advisories that reach what this library serves or parses.
VULNERABLE = {
    "starlette": ["0.40.0", "0.49.0", "1.0.0", "1.2.1"],
    "h11": ["0.14.0", "0.15.0"],
    "werkzeug": ["3.0.6", "3.1.3"],
}
#: Development tools whose next major is taken on purpose when it comes.
UNBOUNDED_OK = frozenset(
    [
        "hatchling",
        "packaging",
        "hypothesis",
        "pytest",
        "pytest-asyncio",
        "coverage",
        "respx",
        "selenium",
        "types-jsonschema",
    ]
)


def shipped_requirements() -> list[Requirement]:
    """Every requirement a user can install: the core and each extra but ``dev``."""
    found = [Requirement(text) for text in PROJECT["dependencies"]]
    for extra, texts in PROJECT["optional-dependencies"].items():
        if extra != "dev":
            found += [Requirement(text) for text in texts if not text.startswith("mm-assistants")]
    return found


def test_every_shipped_requirement_has_a_floor_and_stops_before_an_untested_major() -> None:
    for requirement in shipped_requirements():
        operators = {spec.operator for spec in requirement.specifier}
        assert ">=" in operators, f"{requirement} has no floor"
        assert "<" in operators, f"{requirement} admits any future major"


def test_dev_tools_that_change_behaviour_are_bounded() -> None:
    for text in PROJECT["optional-dependencies"]["dev"]:
        requirement = Requirement(text)
        if requirement.name in UNBOUNDED_OK or requirement.name == "mm-assistants":
            continue
        operators = {spec.operator for spec in requirement.specifier}
        assert "<" in operators, f"{requirement} admits any future major"


@pytest.mark.parametrize("name", sorted(VULNERABLE))
def test_no_extra_admits_a_version_with_a_known_advisory(name: str) -> None:
    declared = [r for r in shipped_requirements() if r.name.lower() == name]
    assert declared, f"{name} is no longer declared: drop it from VULNERABLE on purpose"
    for requirement in declared:
        for version in VULNERABLE[name]:
            assert not requirement.specifier.contains(Version(version)), (
                f"{requirement} admits {name} {version}"
            )


def reachable_extras(extra: str) -> set[str]:
    """``extra`` and every extra it pulls in through ``mm-assistants[...]``."""
    seen, todo = set(), [extra]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in PROJECT["optional-dependencies"][name]:
            requirement = Requirement(text)
            if requirement.name == "mm-assistants":
                todo += sorted(requirement.extras)
    return seen


def test_the_all_extra_installs_every_feature() -> None:
    features = set(PROJECT["optional-dependencies"]) - {"all", "dev"}
    assert reachable_extras("all") >= features
