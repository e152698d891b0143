"""The house plan's arrow table, held by a test: every import in the package, at module
level, inside a function or under TYPE_CHECKING, runs along an arrow.

PLAN is the plan's table (shared/design/architecture.md, "Arrows"); NOT_IN_PLAN lists the
arrows the code needed beyond it, each with its reason. To add an arrow, add it there on
purpose with its reason; the failure message names the file and line of every import that
runs against the table. `python -m tests.test_architecture` prints the table and the verdict.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mm_assistants"

#: The plan's arrows: who may import whom directly; a package may also import whatever its
#: arrows reach.
PLAN: dict[str, frozenset[str]] = {
    "cli": frozenset({"celery", "inbound", "review", "drivers"}),
    "celery": frozenset({"inbound", "drivers", "state"}),
    "inbound": frozenset({"drivers"}),
    "agents": frozenset({"dispatch"}),
    "drivers": frozenset({"dispatch"}),
    "dispatch": frozenset({"tools", "multimail", "approvals"}),
    "webhooks": frozenset({"approvals"}),
    "review": frozenset(),
    "multimail": frozenset(),
    "sandbox": frozenset({"tools", "review"}),  # shared constants; serves the review page
    "approvals": frozenset(),
    "tools": frozenset(),
    "state": frozenset(),
}
#: Arrows the code needed beyond the plan, each with its reason.
NOT_IN_PLAN: dict[tuple[str, str], str] = {
    ("cli", "__init__"): "the command line sits above all that the public face re-exports",
    ("cli", "openai_setup"): "`assistant create` builds an assistant from the schemas",
    ("cli", "sandbox"): "`demo` and `sandbox` serve the embedded sandbox",
    ("cli", "webhooks"): "`demo --webhooks` receives the sandbox's signed deliveries",
    ("inbound", "webhooks"): "the router routes the events that webhooks/ parses",
    ("review", "multimail"): "the oversight queue is a MultiMail client",
    ("multimail", "tools"): "the client sends the RequestSpec that the binder makes",
    ("openai_setup", "tools"): "create_assistant exports the registry's tool definitions",
}
ARROWS: dict[str, frozenset[str]] = {
    unit: targets | {b for (a, b) in NOT_IN_PLAN if a == unit} for unit, targets in PLAN.items()
} | {"openai_setup": frozenset({"tools"})}
#: What the plan forbids a package outright, even where another arrow would reach it.
FORBIDDEN: dict[str, frozenset[str]] = {
    "sandbox": frozenset({"dispatch", "drivers", "multimail", "inbound", "celery"}),
}
#: Every package may import these: they import nothing of the package themselves.
FLOOR = frozenset({"state", "_version", "_validate", "_moved", "_sunset"})
#: The public face re-exports from anywhere.
ANYTHING = frozenset({"__init__"})


def reach(unit: str) -> frozenset[str]:
    """``unit``'s arrows and everything they lead to, minus what the plan forbids it."""
    seen: set[str] = set()
    todo = list(ARROWS.get(unit, ()))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(ARROWS.get(name, ()))
    return frozenset(seen) - FORBIDDEN.get(unit, frozenset())


def unit_of(path: Path) -> str:
    """The package (or top-level module) a file belongs to: ``dispatch``, ``_version``…"""
    first = path.relative_to(PACKAGE).parts[0]
    return first.removesuffix(".py")


def target_of(module: str) -> str | None:
    """The unit ``mm_assistants.<unit>...`` names, or ``None`` outside the package."""
    parts = module.split(".")
    if parts[0] != "mm_assistants":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, unit)`` for every import of the package in ``path``, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (unit := target_of(alias.name)) is not None:
                    yield node.lineno, unit
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            unit = target_of(node.module)
            if unit == "__init__":  # `from mm_assistants import _validate` names a module
                for alias in node.names:
                    child = PACKAGE / alias.name
                    is_module = child.is_dir() or child.with_suffix(".py").exists()
                    yield node.lineno, alias.name if is_module else "__init__"
            elif unit is not None:
                yield node.lineno, unit


def violations() -> list[str]:
    """Every import that runs against the table, as ``file:line: a -> b``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = unit_of(path)
        if source in ANYTHING:
            continue
        allowed = reach(source) | FLOOR | {source}
        for line, target in imports(path):
            floor_module = source in FLOOR and source != "state"
            if target not in allowed or (floor_module and target != source):
                place = f"{path.relative_to(PACKAGE.parent)}:{line}"
                if not found or found[-1] != f"{place}: {source} -> {target}":
                    found.append(f"{place}: {source} -> {target}")
    return found


def test_every_import_runs_along_an_arrow() -> None:
    assert violations() == []


def test_every_arrow_beyond_the_plan_is_still_needed() -> None:
    used = {
        (unit_of(path), target) for path in PACKAGE.rglob("*.py") for _, target in imports(path)
    }
    assert set(NOT_IN_PLAN) <= used, "drop the arrows nothing uses any more"


def test_every_package_is_in_the_table() -> None:
    units = {unit_of(path) for path in PACKAGE.rglob("*.py")} - ANYTHING
    missing = units - set(ARROWS) - FLOOR
    assert missing == set(), f"add {sorted(missing)} to ARROWS, with its arrows"


@pytest.mark.parametrize("floor", ["tools", "state"])
def test_the_floors_import_nothing_of_the_package_but_themselves(floor: str) -> None:
    for path in (PACKAGE / floor).rglob("*.py"):
        assert {target for _, target in imports(path)} <= {floor}, path


def test_the_sandbox_keeps_to_its_side_whatever_the_arrows_reach() -> None:
    assert reach("sandbox").isdisjoint(FORBIDDEN["sandbox"])
    assert "multimail" not in reach("sandbox")


def test_a_forbidden_import_is_reported_with_its_place(tmp_path: Path) -> None:
    # the checker itself: an import against the table is found, with file and line
    code = "def late():\n    from mm_assistants.drivers import steps\n"
    probe = tmp_path / "probe.py"
    probe.write_text(code, encoding="utf-8")
    assert list(imports(probe)) == [(2, "drivers")]
    assert "drivers" not in reach("webhooks")
    assert "drivers" in reach("cli")


def table() -> str:
    """The arrow table as text: each unit and everything it may import."""
    rows = [f"{unit:13} -> {', '.join(sorted(reach(unit))) or '(nothing)'}" for unit in ARROWS]
    rows.append(f"{'(everyone)':13} -> {', '.join(sorted(FLOOR))}")
    return "\n".join(rows)


if __name__ == "__main__":  # python -m tests.test_architecture: the table and its verdict
    print(table())
    found = violations()
    print("\n".join(found) if found else "0 violations")
