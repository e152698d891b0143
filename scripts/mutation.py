"""Mutation testing of the pure cores: `make mutation` (issue 14).

Each pure module is mutated by mutmut and judged by ITS OWN test folder only: a module's
tests must notice its mutants, the end-to-end suite is no substitute. mutmut keeps one
state folder (``mutants/``) per working directory and one test selection per run, so every
module gets its own working copy under ``build/mutation/<name>/`` with a pyproject.toml whose
``[tool.mutmut]`` is the repository's plus that module's ``only_mutate`` and test selection.
Every run starts from scratch: mutmut's cache does not notice a new test, and a score
must never rest on a verdict from before the tests it claims.

    python scripts/mutation.py                    # every module, then the table
    python scripts/mutation.py dispatch/policy    # some modules (names from MODULES)
    python scripts/mutation.py --list             # the table of modules and their tests
    python scripts/mutation.py --survivors        # ... and print every survivor's diff
    python scripts/mutation.py --report           # the table of the last runs, no new run

Exit status: 0 when every module run scores at least FLOOR, 1 otherwise. The score counts
killed mutants (timeouts included: the tests noticed) over all generated ones; a mutant no
selected test reaches counts against the score. Surviving mutants judged equivalent are
written down, with the reason, in mutation-equivalents.md next to this script's config.

This is repository tooling: it is not in the wheel and not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # mutmut reads pyproject.toml with toml on Python 3.10, so toml is there too
    import toml as tomllib  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"
FLOOR = 90.0
# Two cores are shared with other work (tests, benchmarks): two children at most by default.
DEFAULT_CHILDREN = 2
# A module's run is bounded: a mutant that hangs is a timeout (killed), a run that hangs is
# an error, never a wait without end.
RUN_TIMEOUT_S = 1800

# What the working copy holds besides pyproject.toml: the tests and what [tool.mutmut] names
# (source_paths, also_copy: the schemas, and the README and examples some tests read).
ALWAYS_COPIED = ("tests",)


@dataclass(frozen=True)
class Module:
    """One pure core: the files mutated and the tests that must kill their mutants."""

    name: str
    sources: tuple[str, ...]
    tests: tuple[str, ...]


MODULES: tuple[Module, ...] = (
    Module("tools/binding", ("mm_assistants/tools/binding.py",), ("tests/tools",)),
    Module("tools/registry", ("mm_assistants/tools/registry.py",), ("tests/tools",)),
    Module("tools/formats", ("mm_assistants/tools/formats.py",), ("tests/tools",)),
    Module("tools/strict", ("mm_assistants/tools/strict.py",), ("tests/tools",)),
    Module("tools/ids", ("mm_assistants/tools/ids.py",), ("tests/tools",)),
    Module(
        "tools/diff",
        ("mm_assistants/tools/diff.py", "mm_assistants/tools/diff_params.py"),
        ("tests/tools",),
    ),
    Module(
        "approvals/watch",
        ("mm_assistants/approvals/watch.py",),
        ("tests/approvals",),
    ),
    Module("dispatch/policy", ("mm_assistants/dispatch/policy.py",), ("tests/dispatch",)),
    Module("dispatch/shaping", ("mm_assistants/dispatch/shaping.py",), ("tests/dispatch",)),
    Module("dispatch/framing", ("mm_assistants/dispatch/framing.py",), ("tests/dispatch",)),
    Module(
        "dispatch/scope",
        ("mm_assistants/dispatch/scope.py", "mm_assistants/dispatch/lookups.py"),
        ("tests/dispatch",),
    ),
    # Issue 17's pure cores: the signup proof of work and what in an answer is a secret.
    Module("dispatch/pow", ("mm_assistants/dispatch/pow.py",), ("tests/dispatch",)),
    Module("dispatch/withholding", ("mm_assistants/dispatch/withholding.py",), ("tests/dispatch",)),
    Module(
        "multimail/retries",
        ("mm_assistants/multimail/retries.py",),
        ("tests/multimail",),
    ),
    Module("drivers/steps", ("mm_assistants/drivers/steps.py",), ("tests/drivers",)),
    Module(
        "state/contract",
        (
            "mm_assistants/state/owners.py",
            "mm_assistants/state/checkpoints.py",
            "mm_assistants/state/pending.py",
            "mm_assistants/state/routes.py",
            "mm_assistants/state/backoff.py",
        ),
        ("tests/state",),
    ),
    # The memory backends: the lease, claim and fencing rules every backend must follow, in
    # plain Python. The SQLite backends are I/O: tests/state's contract suite holds them.
    Module(
        "state/memory",
        ("mm_assistants/state/memory.py", "mm_assistants/state/memory_routes.py"),
        ("tests/state",),
    ),
    # The fleet's pure cores (issue 15): what a mailbox check looks at and publishes, what a
    # parked run's checkpoint holds and when it may resume, what a router does after a resume.
    Module("approvals/fleet", ("mm_assistants/approvals/fleet.py",), ("tests/approvals",)),
    Module("drivers/parking", ("mm_assistants/drivers/parking.py",), ("tests/drivers",)),
    Module("inbound/fleet", ("mm_assistants/inbound/fleet.py",), ("tests/inbound",)),
)


@dataclass(frozen=True)
class Score:
    """One module's counts, read from mutmut's CI/CD export."""

    name: str
    generated: int
    killed: int
    survived: int
    not_run: int

    @property
    def score(self) -> float:
        """Killed over generated, in percent (100 when nothing was generated)."""
        return 100.0 * self.killed / self.generated if self.generated else 100.0


def slug(name: str) -> str:
    """The working folder of a module: ``dispatch/policy`` -> ``dispatch-policy``."""
    return name.replace("/", "-")


def mutmut_section(text: str) -> str:
    """The ``[tool.mutmut]`` table of pyproject.toml, verbatim (without its header)."""
    match = re.search(r"^\[tool\.mutmut\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    if match is None:
        raise SystemExit("pyproject.toml has no [tool.mutmut] table")
    return match.group(1)


def module_pyproject(text: str, module: Module) -> str:
    """The repository's pyproject.toml with [tool.mutmut] narrowed to one module."""
    shared = mutmut_section(text)
    narrowed = (
        "[tool.mutmut]\n"
        + shared.rstrip()
        + "\n"
        + f"only_mutate = {json.dumps(list(module.sources))}\n"
        + f"pytest_add_cli_args_test_selection = {json.dumps(list(module.tests))}\n\n"
    )
    return text.replace("[tool.mutmut]\n" + shared, narrowed)


def copied(pyproject: str) -> list[str]:
    """The paths a working copy needs: the tests, ``source_paths`` and ``also_copy``."""
    table = tomllib.loads(pyproject)["tool"]["mutmut"]
    return [*ALWAYS_COPIED, *table["source_paths"], *table.get("also_copy", [])]


def prepare(module: Module) -> Path:
    """Copy the package, schemas, tests and the rest into the module's working folder."""
    work = WORK / slug(module.name)
    # A fresh start: mutmut re-runs only functions whose code changed, not those whose
    # tests did, so its state from an earlier run could keep a mutant a new test kills.
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in copied(pyproject):
        source, target = ROOT / name, work / name
        if source.is_file():
            shutil.copy2(source, target)
        else:
            shutil.copytree(source, target, ignore=ignore)
    (work / "pyproject.toml").write_text(module_pyproject(pyproject, module), "utf-8")
    return work


def mutmut(work: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the venv's mutmut in a module's working folder."""
    exe = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [str(exe), *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_module(module: Module, children: int, show: bool) -> Score | None:
    """Mutate one module, run its own tests against every mutant, return its counts
    (``None`` when mutmut could not run, e.g. the module's tests fail unmutated)."""
    work = prepare(module)
    print(f"== {module.name}: {', '.join(module.sources)} against {' '.join(module.tests)}")
    try:
        done = mutmut(work, "run", "--max-children", str(children), timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"mutmut run for {module.name} took over {RUN_TIMEOUT_S} s; stopped")
        return None
    (work / "run.log").write_text(done.stdout + done.stderr, "utf-8")
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        print(f"mutmut run failed for {module.name} (full log: {work / 'run.log'}):\n{tail}")
        return None
    if show:
        for name in survivors_of(work):
            print(mutmut(work, "show", name).stdout)
    score = read_score(module)
    if score is not None:
        print(f"   {score.killed}/{score.generated} killed ({score.score:.1f} %)")
    return score


def survivors_of(work: Path) -> list[str]:
    """The names of the mutants no test killed in a module's last run (also written to
    ``survivors.txt`` in its working folder)."""
    listed = mutmut(work, "results").stdout
    names = [line.split(":")[0].strip() for line in listed.splitlines() if ":" in line]
    (work / "survivors.txt").write_text("\n".join(names) + "\n", "utf-8")
    return names


def read_score(module: Module) -> Score | None:
    """A module's counts from its last run (``None`` when it has none)."""
    work = WORK / slug(module.name)
    if not (work / "mutants").is_dir():
        return None
    mutmut(work, "export-cicd-stats")
    path = work / "mutants" / "mutmut-cicd-stats.json"
    if not path.exists():
        return None
    stats = json.loads(path.read_text("utf-8"))
    survivors_of(work)
    caught = int(stats["killed"]) + int(stats["timeout"])
    not_run = int(stats["no_tests"]) + int(stats["skipped"])
    return Score(
        name=module.name,
        generated=int(stats["total"]),
        killed=caught,
        survived=int(stats["total"]) - caught - not_run,
        not_run=not_run,
    )


def table(scores: Sequence[Score]) -> str:
    """The results as a Markdown table (the README's copy is this output)."""
    rows = [
        "| module | generated | killed | survived | no tests | score |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for s in scores:
        rows.append(
            f"| `{s.name}` | {s.generated} | {s.killed} | {s.survived} | {s.not_run} "
            f"| {s.score:.1f} % |"
        )
    total = Score(
        "all",
        sum(s.generated for s in scores),
        sum(s.killed for s in scores),
        sum(s.survived for s in scores),
        sum(s.not_run for s in scores),
    )
    rows.append(
        f"| **all** | {total.generated} | {total.killed} | {total.survived} | {total.not_run} "
        f"| {total.score:.1f} % |"
    )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected modules (all by default), print the table, judge against FLOOR."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="names from the table (default: all)")
    parser.add_argument("--children", type=int, default=DEFAULT_CHILDREN)
    parser.add_argument("--list", action="store_true", help="print the modules and stop")
    parser.add_argument("--survivors", action="store_true", help="print survivors' diffs")
    parser.add_argument(
        "--report", action="store_true", help="print the table of the last runs, running nothing"
    )
    args = parser.parse_args(argv)

    by_name = {m.name: m for m in MODULES}
    if args.list:
        for m in MODULES:
            print(f"{m.name:20} {' '.join(m.sources)} <- {' '.join(m.tests)}")
        return 0
    unknown = [n for n in args.modules if n not in by_name]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {sorted(by_name)}")
    chosen = [by_name[n] for n in args.modules] if args.modules else list(MODULES)

    if args.report:
        results = {m.name: read_score(m) for m in chosen}
    else:
        results = {m.name: run_module(m, args.children, args.survivors) for m in chosen}
    scores = [s for s in results.values() if s is not None]
    failed = [name for name, s in results.items() if s is None]
    report = table(scores)
    print()
    print(report)
    (WORK / "latest.md").write_text(report + "\n", "utf-8")
    low = [s.name for s in scores if s.score < FLOOR]
    if failed:
        print(f"\nnot measured (no run, or mutmut could not run): {', '.join(failed)}")
    if low:
        print(f"\nunder {FLOOR:.0f} %: {', '.join(low)}")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
