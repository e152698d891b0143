"""The wheel and its extras: build the wheel once, install it in a fresh venv, and check what
it ships and how the command behaves with only the core dependencies (no extras)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import venv
import zipfile
from collections.abc import Iterator
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the suite runs on 3.11+
    pytest.skip("tomllib needs Python 3.11", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
    "optional-dependencies"
]
#: What the optional extras install; a core-only install must have none of them.
OPTIONAL = ("starlette", "uvicorn", "rich", "fastapi", "flask")

PROBE = """
import json, mm_assistants, mm_assistants.tools as t
from mm_assistants.tools.schemas import schema_dir
registry = t.load_registry("v1")
print(json.dumps({"file": mm_assistants.__file__, "tools": len(registry),
                  "schemas": str(schema_dir("v1"))}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once for every test of this module."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(dist),
            str(ROOT),
        ],
        check=True,
        timeout=300,
    )
    (built,) = dist.glob("mm_assistants-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel installed and nothing else (``--no-deps``)."""
    env_dir = tmp_path_factory.mktemp("fresh")
    venv.create(env_dir, with_pip=True)
    subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        timeout=300,
    )
    return env_dir


@pytest.mark.slow
def test_the_wheel_ships_the_schemas_and_loads_them(fresh_venv: Path, tmp_path: Path) -> None:
    python = fresh_venv / "bin" / "python"
    # The fresh venv gets its dependencies (not the project) from this environment.
    deps = sysconfig.get_paths()["purelib"]
    result = subprocess.run(
        [str(python), "-c", PROBE],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": deps, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    info = json.loads(result.stdout)
    assert info["tools"] == 38
    assert info["file"].startswith(str(fresh_venv))
    assert info["schemas"].startswith(str(fresh_venv))


@pytest.mark.slow
def test_the_wheel_ships_only_the_library(wheel: Path) -> None:
    # bench/ is this repository's tooling: installed, it would be a top-level ``bench``
    # package in every user's site-packages.
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    assert "bench" not in tops
    assert {top for top in tops if not top.endswith(".dist-info")} == {"mm_assistants"}


# -- the extras --------------------------------------------------------------------------------


def installs(extra: str) -> frozenset[str]:
    """The distributions ``extra`` adds, through the extras it names."""
    found: set[str] = set()
    for text in EXTRAS[extra]:
        requirement = Requirement(text)
        if requirement.name == "mm-assistants":
            for inner in requirement.extras:
                found |= installs(inner)
        else:
            found.add(canonicalize_name(requirement.name))
    return frozenset(found)


def test_every_extra_adds_something_of_its_own() -> None:
    # `cli` used to be an alias of `sandbox`, and `all` nearly one of `cli`.
    by_packages: dict[frozenset[str], list[str]] = {}
    for extra in EXTRAS:
        by_packages.setdefault(installs(extra), []).append(extra)
    assert [names for names in by_packages.values() if len(names) > 1] == []
    assert installs("cli") > installs("sandbox")
    assert "rich" in installs("cli") - installs("sandbox")
    features = set(EXTRAS) - {"all", "dev"}
    assert installs("all") == frozenset().union(*(installs(name) for name in features))
    assert installs("dev") > installs("all")


def test_the_readme_install_section_names_every_extra() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"^pip install mm-assistants\s", section, flags=re.MULTILINE)
    assert 'pip install "mm-assistants[sandbox]"' in section
    rows = re.findall(r"^\| `([a-z]+)` \|", section, flags=re.MULTILINE)
    assert sorted(rows) == sorted(EXTRAS)


# -- the command without extras ------------------------------------------------------------------


def core_requirements(wheel: Path) -> list[Requirement]:
    """The wheel's own ``Requires-Dist`` lines that hold without any extra."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        headers = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
    found = [Requirement(text) for text in headers.get_all("Requires-Dist") or []]
    return [r for r in found if r.marker is None or r.marker.evaluate({"extra": ""})]


def closure(requirements: list[Requirement]) -> Iterator[metadata.Distribution]:
    """The installed distributions ``requirements`` need, transitively (no extras)."""
    todo, seen = list(requirements), set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        distribution = metadata.distribution(name)
        yield distribution
        for text in distribution.requires or []:
            inner = Requirement(text)
            if inner.marker is None or inner.marker.evaluate({"extra": ""}):
                todo.append(inner)


@pytest.fixture(scope="module")
def core_only(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for ``PYTHONPATH`` holding the core dependencies of the wheel (and theirs),
    linked from this environment, and nothing of any extra: a fresh ``pip install
    mm-assistants`` without the network."""
    folder = tmp_path_factory.mktemp("core-only")
    for distribution in closure(core_requirements(wheel)):
        base = Path(str(distribution.locate_file("")))
        for top in {file.parts[0] for file in distribution.files or ()}:
            if top not in ("..", "__pycache__") and not (folder / top).exists():
                os.symlink(base / top, folder / top)
    return folder


def mm_assistants(venv_dir: Path, core: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``mm-assistants ARGS`` from the fresh venv, with only the core dependencies, no
    MultiMail or OpenAI settings, and no terminal."""
    return subprocess.run(
        [str(venv_dir / "bin" / "mm-assistants"), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=core.parent,
        env={"PYTHONPATH": str(core), "PATH": "/usr/bin:/bin", "HOME": str(core.parent)},
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_the_core_only_install_has_no_extra(fresh_venv: Path, core_only: Path) -> None:
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    result = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-c", probe, *OPTIONAL, "openai", "httpx"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(core_only), "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "['openai', 'httpx']"


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["demo"], id="demo"),
        pytest.param(["demo", "--api", "responses"], id="demo-responses"),
        pytest.param(["demo", "--webhooks"], id="demo-webhooks"),
        pytest.param(["sandbox", "--port", "0"], id="sandbox"),
    ],
)
def test_a_command_that_needs_an_extra_names_it_in_one_line(
    argv: list[str], fresh_venv: Path, core_only: Path
) -> None:
    result = mm_assistants(fresh_venv, core_only, *argv)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == 3, result.stderr  # README: 3, an optional extra is missing
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"mm-assistants {argv[0]}: ")
    assert 'pip install "mm-assistants[cli]"' in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--help"], id="help"),
        pytest.param(["--version"], id="version"),
        pytest.param(["schemas", "list"], id="schemas-list"),
        pytest.param(["schemas", "check"], id="schemas-check"),
    ],
)
def test_the_core_commands_need_no_extra(
    argv: list[str], fresh_venv: Path, core_only: Path
) -> None:
    result = mm_assistants(fresh_venv, core_only, *argv)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(
            ["run", "--assistant", "asst_1", "--message", "hi", "--mailbox-id", "mbx_1"], id="run"
        ),
        pytest.param(["assistant", "create", "--model", "gpt-4o"], id="assistant-create"),
        pytest.param(["approvals", "list"], id="approvals-list"),
    ],
)
def test_without_extras_or_settings_a_command_fails_in_one_line(
    argv: list[str], fresh_venv: Path, core_only: Path
) -> None:
    # No keys and no extras: whichever is found missing first, the user reads one line
    # (a missing key: 2; a missing extra: 3, naming it), never a traceback.
    result = mm_assistants(fresh_venv, core_only, *argv)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode in (2, 3), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    if result.returncode == 3:
        assert 'pip install "mm-assistants[cli]"' in result.stderr
