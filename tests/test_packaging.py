"""The wheel: build it once, install it in a fresh venv, and check what it ships and how it
behaves with only the core dependencies (no extras)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

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
